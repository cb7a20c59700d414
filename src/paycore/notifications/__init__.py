"""notifications slice."""
