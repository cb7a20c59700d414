"""Every table paycore declares, for tools that need the whole schema at once."""

from __future__ import annotations

import importlib

from paycore.platform.schema import metadata

_STORES = (
    "paycore.ledger.store",
    "paycore.ledger.store_checks",
    "paycore.merchants.store",
    "paycore.security.store",
    "paycore.security.store_blind",
    "paycore.payments.store",
    "paycore.payments.store_idempotency",
    "paycore.notifications.store",
    "paycore.split.store",
    "paycore.custody.store",
    "paycore.collection.store",
    "paycore.rewards.store",
    "paycore.recon.store",
    "paycore.recon.h2h_store",
    "paycore.bills.store",
    "paycore.bills.query_store",
    "paycore.bills.export_store",
    "paycore.ops.store",
    "paycore.ops.store_incidents",
    "paycore.finance.store",
    "paycore.security.store_keys",
    "paycore.security.store_audit",
    "paycore.warehouse.store",
    "paycore.aml.store_cases",
)

for _name in _STORES:
    importlib.import_module(_name)

__all__ = ["metadata"]
