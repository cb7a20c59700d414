"""paycore: an open-source payment platform built on a double-entry ledger."""

__version__ = "0.1.0"
