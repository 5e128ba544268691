"""Storage: SQLAlchemy engine, tables, the unit of work, migrations (Alembic)."""
