"""`paycore demo`'s last scene (账单): the marketplace's bill for the current month.

The finished bill days are rolled up (a server's bills worker may have done it already),
the month's statements of every merchant are proved against the journal, and the
marketplace's bill is shown in the terminal, written as the HTML page and the PDF a shop
owner reads, and offered over HTTP with a new key of the marketplace's own. The month is
the current one in China Standard Time, so its figures run to now: today is never closed
and comes from the journal's entries.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from rich.console import Console
from rich.table import Table

from paycore.bills.model import bill_day_of, month_of
from paycore.bills.page import BillView
from paycore.bills.page_service import BillPages, render_html
from paycore.bills.pdf import render_pdf
from paycore.bills.proof import CheckReport
from paycore.errors import Rejected
from paycore.runtime import Runtime

TITLE = "the marketplace's bill (账单)"
BILL_LANG = "en"  # the demo speaks English; the page's default is Chinese (drop ?lang=en)
FOLDER = "bills"  # under the data dir
MISMATCHES_SHOWN = 5


@dataclass(frozen=True, slots=True)
class BillScene:
    """What the bill scene did; `run.py` keeps it in the report, tests read it."""

    month: str
    closed_days: tuple[date, ...]
    proof: CheckReport
    view: BillView
    html_path: Path
    pdf_path: Path
    key: str  # the marketplace's new API key, in clear (shown once)
    url: str  # GET the bill as HTML with that key

    @property
    def problems(self) -> list[str]:
        return proof_problems(self.proof)


def proof_problems(proof: CheckReport) -> list[str]:
    """The proof's mismatches, as the demo's errors (the books disagree: exit 1)."""
    found = [
        f"bills proof {proof.month}: {r.merchant_id} {r.account_id}: {'; '.join(r.problems)}"
        for r in proof.failures
    ]
    return found + [
        f"bills proof {proof.month}: {s.merchant_id} seal: {s.problem}" for s in proof.seals
    ]


def run_scene(
    runtime: Runtime, console: Console, *, merchant_id: str, server_url: str, server_running: bool
) -> tuple[BillScene | None, list[str]]:
    """The scene under its own rule, after the flows'; the scene (None if refused) and what
    went wrong, as the flows' scenes report it."""
    console.rule(TITLE)
    try:
        scene = show(runtime, console, merchant_id=merchant_id, server_url=server_url)
    except Rejected as refused:
        console.print(f"[red]refused[/red] {refused.code}: {refused.detail}")
        return None, [f"{TITLE}: {refused.code}: {refused.detail}"]
    hint = "" if server_running else "  (after `make run`)"
    console.print(
        f'curl -H "Authorization: Bearer {scene.key}" "{scene.url}" -o bill.html{hint}',
        soft_wrap=True,
    )
    return scene, scene.problems


def show(runtime: Runtime, console: Console, *, merchant_id: str, server_url: str) -> BillScene:
    """Close, prove, show and write the merchant's bill of the current month."""
    bills = runtime.bills
    month = month_of(bill_day_of(runtime.clock.now()))
    with console.status(f"closing finished bill days and proving {month} ..."):
        closed = tuple(bills.close_days())
        proof = bills.check(month)
    console.print(_closed_line(closed))
    _print_proof(console, proof)
    view = BillPages(bills, runtime.merchants).view(merchant_id, month, lang=BILL_LANG)
    console.print(f"[bold]{view.title}[/bold] · {view.as_of_text}", soft_wrap=True)
    console.print(_headline_table(view))
    _print_attention(console, view)
    with console.status("rendering the bill as a page and a PDF ..."):
        html = render_html(view)
        folder = Path(runtime.settings.data_dir) / FOLDER
        html_path = _write(folder / f"{merchant_id}-{month}.html", html.encode())
        pdf_path = _write(folder / f"{merchant_id}-{month}.pdf", render_pdf(html))
    console.print(f"the bill as a page: {html_path}", soft_wrap=True)
    console.print(f"the bill as a PDF:  {pdf_path}", soft_wrap=True)
    _key, key = runtime.api_keys.issue(merchant_id=merchant_id, label="demo")
    url = f"{server_url}/v1/bills/{merchant_id}/{month}.html?lang={BILL_LANG}"
    return BillScene(month, closed, proof, view, html_path, pdf_path, key, url)


def _closed_line(closed: tuple[date, ...]) -> str:
    if not closed:
        return "bill days: none to close now (today's figures come from the journal's entries)"
    first, last = closed[0].isoformat(), closed[-1].isoformat()
    span = first if first == last else f"{first} .. {last}"
    return f"bill days closed now: {len(closed)} ({span}), rolled up once for the statements"


def _print_proof(console: Console, proof: CheckReport) -> None:
    merchants = len({r.merchant_id for r in proof.rows})
    if proof.ok:
        console.print(
            f"[green]bills proof of {proof.month}: ok[/green] ({len(proof.rows)} accounts of "
            f"{merchants} merchants: opening + movements = closing = the posted transfers "
            "= the journal's last snapshot; day rollups = raw entries)"
        )
        return
    console.print(
        f"[red]bills proof of {proof.month} FAILED[/red]: "
        f"{len(proof.failures)} accounts, {len(proof.seals)} seals disagree"
    )
    for problem in proof_problems(proof)[:MISMATCHES_SHOWN]:
        console.print(f"  {problem}", soft_wrap=True)


def _headline_table(view: BillView) -> Table:
    table = Table()
    table.add_column("")
    for bill in view.currencies:
        table.add_column(bill.currency, justify="right")
    bills = view.currencies
    rows = {
        "opening balance": [b.opening.text for b in bills],
        "+ money in": [b.money_in.text for b in bills],
        "- money out": [b.money_out.text for b in bills],
        "= closing balance": [b.closing.text for b in bills],
        "fees paycore charged": [f"{b.fees.text} ({b.fee_count})" for b in bills],
        "on hold": [b.on_hold.text for b in bills],
    }
    for label, cells in rows.items():
        table.add_row(label, *cells, end_section=label.startswith("="))
    return table


def _print_attention(console: Console, view: BillView) -> None:
    for bill in view.currencies:
        console.print(bill.equation, soft_wrap=True)
    if not view.attention:
        console.print(f"needs attention: {view.attention_text}")
        return
    console.print("[bold]needs attention[/bold]")
    for line in view.attention:
        example = f" (e.g. {line.examples[0]})" if line.examples else ""
        console.print(f"  [yellow]{line.text}[/yellow]{example}", soft_wrap=True)


def _write(path: Path, content: bytes) -> Path:
    """Replace the file whole: a reader never sees half a bill."""
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_suffix(path.suffix + ".part")
    part.write_bytes(content)
    part.replace(path)
    return path.resolve()
