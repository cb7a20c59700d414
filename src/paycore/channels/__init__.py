"""channels slice."""
