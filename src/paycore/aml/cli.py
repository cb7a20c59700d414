"""`paycore aml evaluate|score`: the AML rules from the command line."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from paycore.aml import params as aml_params
from paycore.aml.evaluate import OVERALL, PRECISION_GOAL, RECALL_GOAL, evaluate
from paycore.aml.model import SubjectScore
from paycore.aml.service import score_warehouse
from paycore.aml.synth import TRANSFERS_DEFAULT
from paycore.errors import Rejected
from paycore.platform.config import Settings

aml_app = typer.Typer(help="AML: rules, scores and their evaluation.", no_args_is_help=True)
out = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 160)

RulesFile = Annotated[
    Path | None,
    typer.Option(
        "--rules-file", help=f"TOML/JSON parameters (default ${aml_params.RULES_FILE_ENV})"
    ),
]


def _fail(exc: Rejected) -> typer.Exit:
    err.print(f"[red]error[/red] {exc.code}: {exc.detail}")
    return typer.Exit(2)


def default_warehouse() -> Path:
    settings = Settings.from_env()
    if settings.warehouse_dir:
        return Path(settings.warehouse_dir)
    return Path(settings.data_dir) / "warehouse"


@aml_app.command("evaluate")
def evaluate_command(
    transfers: Annotated[
        int, typer.Option(help="ledger transfers to generate")
    ] = TRANSFERS_DEFAULT,
    seed: Annotated[int, typer.Option(help="the generator's seed")] = 1,
    keep: Annotated[Path | None, typer.Option(help="write the marketplace here, keep it")] = None,
    rules_file: RulesFile = None,
) -> None:
    """Generate a synthetic marketplace with planted typologies, score it, print precision
    and recall per typology; exit 1 if a typology misses recall >= 0.9 at precision >= 0.8."""
    try:
        chosen = aml_params.load(rules_file)
        result = evaluate(transfers=transfers, seed=seed, workdir=keep, params=chosen)
    except Rejected as exc:
        raise _fail(exc) from exc
    rows = result.generated.rows
    table = Table(
        title=f"AML evaluation: {rows['ledger_transfers']:,} transfers, seed {seed},"
        f" {result.generation_s:.1f} s to generate, {result.scoring.seconds:.1f} s to score"
    )
    for name in ("typology", "planted", "flagged", "hits", "precision", "recall", "goal"):
        table.add_column(name, justify="left" if name in ("typology", "goal") else "right")
    for m in result.measures:
        verdict = "" if m.typology == OVERALL else ("met" if m.meets_goal else "[red]missed[/red]")
        table.add_row(
            m.typology, str(m.planted), str(m.flagged), str(m.hits),
            f"{m.precision:.3f}", f"{m.recall:.3f}", verdict,
        )  # fmt: skip
    out.print(table)
    if not result.meets_goal:
        err.print(
            f"goal missed (recall >= {RECALL_GOAL} at precision >= {PRECISION_GOAL}):"
            f" {', '.join(result.missed)}"
        )
        raise typer.Exit(1)


@aml_app.command("score")
def score_command(
    warehouse: Annotated[
        Path | None, typer.Option(help="warehouse root (default $PAYCORE_WAREHOUSE_DIR)")
    ] = None,
    top: Annotated[int, typer.Option(min=1, max=1000, help="subjects to show")] = 20,
    rules_file: RulesFile = None,
) -> None:
    """Score a warehouse and print the top subjects with their reasons."""
    root = warehouse or default_warehouse()
    try:
        scoring = score_warehouse(root, params=aml_params.load(rules_file))
    except Rejected as exc:
        raise _fail(exc) from exc
    table = Table(
        title=f"AML scores: {len(scoring.scores):,} subjects with reasons,"
        f" {len(scoring.alerts):,} at or above {scoring.threshold}"
    )
    for name in ("score", "subject", "reasons", "transactions"):
        table.add_column(name, justify="right" if name == "score" else "left")
    for subject in scoring.scores[:top]:
        table.add_row(str(subject.score), _subject(subject), *_reasons(subject))
    out.print(table)


def _subject(subject: SubjectScore) -> str:
    return f"{subject.subject_type.value} {subject.subject_id}"


def _reasons(subject: SubjectScore) -> tuple[str, str]:
    words = "\n".join(
        escape(f"[{r.rule} +{r.weight}] {r.words.en}\n{r.words.zh}") for r in subject.reasons
    )
    # Two lines a reason on both sides, so each reason's transactions sit beside its words.
    ids = "\n\n".join(
        f"{', '.join(r.transaction_ids[:3])}"
        + (f" (+{r.transaction_count - 3})" if r.transaction_count > 3 else "")
        for r in subject.reasons
    )
    return words, ids
