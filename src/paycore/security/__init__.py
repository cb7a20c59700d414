"""security slice."""
