"""Disaster recovery: backups proven by restoring them. See README.md."""
