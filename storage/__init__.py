"""PostgreSQL storage: tables, migrations, message persistence, the replace transaction, queries."""
