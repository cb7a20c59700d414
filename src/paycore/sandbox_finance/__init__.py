"""The sandbox finance system: its own process; books pushed vouchers once, fails on request."""
