"""Merchant statements, monthly settlement, the plain-language bill and bill queries."""
