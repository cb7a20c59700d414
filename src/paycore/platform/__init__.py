"""Configuration, database engines, migrations: what every slice stands on."""
