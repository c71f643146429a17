"""The HTTP API: app factory, auth, errors, rate limiting."""
