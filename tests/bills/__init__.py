"""Tests of the bills slice."""
