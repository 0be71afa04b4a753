"""User accounts: the store, the caller's own profile and admin management."""
