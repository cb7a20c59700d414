"""payments slice."""
