"""Finance (业财): accounting vouchers derived from the journal, pushed to the finance
system through an outbox, and reconciled against the ledger every day (README.md)."""
