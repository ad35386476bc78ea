"""API keys: each key is a tenant."""
