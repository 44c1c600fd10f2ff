"""Storage: tables, database engine and the protection of phone numbers."""
