"""The shared SQL database (server extra): connection, tables, migrations."""
