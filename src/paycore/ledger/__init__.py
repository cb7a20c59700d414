"""The ledger: accounts, transfers and balances. See README.md."""
