"""Socket.IO: authenticated connections per user and device, pushed events, playback commands."""
