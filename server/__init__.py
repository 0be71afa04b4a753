"""HarmonyStream's HTTP server: REST API, media delivery, Socket.IO and the web app."""
