"""Sign-in: passwords, access and refresh tokens, web sessions, and who the caller is."""
