"""Categories group test cases; created by admins, listed over the API."""
