"""merchants slice."""
