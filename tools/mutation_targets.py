"""The rule modules `make mutation` mutates, each with the tests that are its own.

A module's own tests are its slice's rule tests: the files named `test_*rules*.py`,
`test_*properties.py` and `test_model*.py` under tests/<slice>/, plus the few listed
beside it. Flow tests through the database are left out on purpose: they reach every rule
but pin few of them, and each surviving mutant would run them all (minutes per mutant).
The score says how well the rule tests alone pin the rules.

Modules whose rules are SQL (recon matching in recon/store_matching.py) are left out: a
mutated SQL string is a syntax error that any test kills, so the score would say nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Target:
    module: str
    """Path under src/paycore/."""
    tests: tuple[str, ...]
    """pytest selections, relative to the repository root."""
    why: str
    """The money rule it holds, in a few words (printed in the table)."""

    @property
    def slug(self) -> str:
        return self.module.removesuffix(".py").replace("/", ".")


ROOT = Path(__file__).resolve().parent.parent
RULE_TESTS = ("test_*rules*.py", "test_*properties.py", "test_model*.py")


def _t(module: str, why: str, *extra: str) -> Target:
    found: list[str] = []
    if "/" in module:
        slice_dir = ROOT / "tests" / module.split("/")[0]
        found = sorted({str(p.relative_to(ROOT)) for g in RULE_TESTS for p in slice_dir.glob(g)})
    if not found and not extra and "/" in module:  # no rule tests yet: the whole slice
        found = [f"tests/{module.split('/')[0]}"]
    return Target(module, (*found, *extra), why)


TARGETS: tuple[Target, ...] = (
    _t(
        "money.py",
        "currency codes and minor units",
        "tests/web/test_currencies_and_text.py",
        "tests/test_money.py",
    ),
    # Not test_result_codes.py nor the reference model: ~150 database tests each mutant
    # would run before the pure tests that kill it (the codes are in test_posting_rules_codes).
    _t("ledger/posting.py", "posting, holds, balancing, limits"),
    _t("ledger/model.py", "account and transfer rules"),
    _t(
        "payments/model.py",
        "order state machines, fees, refund rules",
        "tests/payments/test_state_machines.py",
    ),
    _t(
        "payments/bookkeeping.py",
        "the transfers each order step posts",
        "tests/payments/test_state_machines.py",
    ),
    _t("channels/model.py", "channel answers and breaker rules"),
    _t("channels/routing.py", "which channels, in which order", "tests/channels/test_routing.py"),
    _t("split/model.py", "split parts, allocation, claw-back shares and cover"),
    _t("split/bookkeeping.py", "split and claw-back transfers"),
    _t("custody/model.py", "custody banks, cut-off days, virtual accounts, deals"),
    _t("custody/bookkeeping.py", "custody transfers"),
    _t("collection/model.py", "collection schedules, fees, retries"),
    _t("collection/bookkeeping.py", "collection transfers"),
    _t("rewards/model.py", "reward rows, limits, transfer ids"),
    _t("recon/model.py", "statement amounts and business days"),
    _t("consistency/model.py", "cross-slice money checks"),
    _t("merchants/model.py", "merchant and fee settings"),
    _t("notifications/model.py", "event retry schedule"),
    _t("sandbox_bank/model.py", "the sandbox bank's own rules and fees"),
    _t("security/model.py", "API key scopes"),
    _t("wallets/model.py", "wallet accounts"),
    _t("bills/model.py", "bill lines of journal movements, Shanghai periods, month seal"),
    _t("bills/journal.py", "folding the journal into statement lines, pay-in gross and fee"),
)


def by_name(names: list[str]) -> list[Target]:
    """Targets whose module path or slug contains any of `names` (all when empty)."""
    if not names:
        return list(TARGETS)
    chosen = [t for t in TARGETS if any(n in t.module or n in t.slug for n in names)]
    if not chosen:
        known = ", ".join(t.module for t in TARGETS)
        raise SystemExit(f"no rule module matches {names}; known: {known}")
    return chosen
