//! The store: incidents and their history in SQLite (default) or PostgreSQL.
