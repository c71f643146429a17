"""Database access: engine, embedded server, models, migrations."""
