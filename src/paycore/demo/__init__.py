"""`paycore demo`: a sandbox bank and a day of mixed traffic, summarised (see README.md)."""
