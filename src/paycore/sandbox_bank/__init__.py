"""The sandbox bank: a separate process that behaves, and fails, like a real bank."""
