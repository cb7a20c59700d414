"""The composition root: every service of one paycore process, built once from Settings.

The HTTP app, the CLI and the demo all build a Runtime; tests build one with their own
engine, clock and channels. Background workers (hold expiry, payments janitor, webhook
relay, channel health probes) start only when asked, so a CLI command stays a command.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from paycore.aml.cases import build_cases
from paycore.aml.schedule import AmlRounds
from paycore.bills import reports_pool
from paycore.bills.admission import Admission, Limits
from paycore.bills.export_jobs import EXPORT_POLL_S, ExportJobs, run_export_worker
from paycore.bills.service import Bills
from paycore.bills.workers import BillReader, BillWorkers
from paycore.channels.config import Channels, load_channels
from paycore.channels.h2h import H2hBankChannel
from paycore.channels.model import BankAccount
from paycore.channels.registry import HealthProber
from paycore.clock import Clock, SystemClock
from paycore.collection.service import Collections
from paycore.consistency.service import FlowCheck
from paycore.custody.service import Custody
from paycore.finance import service as finance_service
from paycore.finance.chart import load_chart
from paycore.finance.push import FinancePush
from paycore.finance.receiver_client import FinanceReceiverClient
from paycore.ledger.checks import LedgerChecks, run_check_worker
from paycore.ledger.service import Ledger, run_expiry_worker
from paycore.merchants.model import MerchantStatus
from paycore.merchants.service import Merchants
from paycore.notifications.relay import WebhookRelay
from paycore.notifications.service import Notifications, Outbox
from paycore.ops.alerts import BurnRateAlerts
from paycore.ops.heartbeat import Heartbeats, WorkerWatch, node_name
from paycore.ops.heartbeat_node import NodeWatch
from paycore.ops.incidents import Incidents
from paycore.ops.prober import Prober
from paycore.ops.service import OPS_TICK_S, Ops, load_ops_config
from paycore.ops.sli import FLUSH_INTERVAL_S, SliRecorder
from paycore.ops.slo import SloConfig, load_config
from paycore.payments.janitor import Janitor, run_janitor
from paycore.payments.service import Payments
from paycore.payments.settle import PaymentsContext
from paycore.platform.config import Settings
from paycore.platform.db import make_engine
from paycore.recon.daily import DailyClose
from paycore.recon.handover import Claimer, UnclaimedMoney
from paycore.recon.service import Recon
from paycore.rewards.service import Rewards
from paycore.security.blind import BlindIndexer, load_blind_indexer
from paycore.security.blind_service import BlindIndex
from paycore.security.crypto import FieldCipher, load_field_cipher
from paycore.security.retention import PURGE_INTERVAL_S, retention_for, run_retention_worker
from paycore.security.reveal import AuditLog, Reveals, payment_sources
from paycore.security.service import ApiKeys
from paycore.security.subjects import Subjects
from paycore.split.service import Splits
from paycore.wallets.service import Wallets
from paycore.warehouse.service import WarehouseExport

log = logging.getLogger(__name__)

MERCHANT_CACHE_S = 10.0
"""A merchant's fee and status are read at most this often per process: a suspension
takes effect within it."""

JANITOR_INTERVAL_S = 5.0
RELAY_INTERVAL_S = 0.2
FLOWS_INTERVAL_S = 2.0
BILLS_CLOSE_INTERVAL_S = 30.0
"""How often `serve` closes finished bill days and seals finished months."""
LEDGER_CHECK_POLL_S = 60.0
"""How often the server asks whether the scheduled ledger check is due."""


class _MerchantFees:
    """fee_bps of active merchants, cached briefly (one read per merchant per 10 s)."""

    def __init__(self, merchants: Merchants) -> None:
        self._merchants = merchants
        self._cache: dict[str, tuple[float, int | None]] = {}
        self._lock = threading.Lock()

    def __call__(self, merchant_id: str) -> int | None:
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(merchant_id)
        if hit is not None and now - hit[0] < MERCHANT_CACHE_S:
            return hit[1]
        merchant = self._merchants.get(merchant_id)
        fee = merchant.fee_bps if merchant and merchant.status is MerchantStatus.ACTIVE else None
        with self._lock:
            self._cache[merchant_id] = (now, fee)
        return fee


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    clock: Clock
    ledger: Ledger
    cipher: FieldCipher
    blind_index: BlindIndex
    api_keys: ApiKeys
    merchants: Merchants
    notifications: Notifications
    channels: Channels
    payments: Payments
    janitor: Janitor
    ledger_checks: LedgerChecks
    wallets: Wallets
    split: Splits
    custody: Custody
    collection: Collections
    rewards: Rewards
    recon: Recon
    recon_daily: DailyClose
    reports_engine: Engine
    bills: Bills
    bills_admission: Admission
    bill_workers: BillWorkers
    finance: finance_service.Finance
    finance_push: FinancePush | None
    """None without the finance system's secret: vouchers wait, and ops says so."""
    slo_config: SloConfig
    sli: SliRecorder
    slo_alerts: BurnRateAlerts
    incidents: Incidents
    worker_watch: WorkerWatch
    node_watch: NodeWatch
    ops: Ops = field(init=False)
    audit_log: AuditLog = field(init=False)
    reveals: Reveals = field(init=False)
    subjects: Subjects = field(init=False)
    janitor_interval_s: float = JANITOR_INTERVAL_S
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _closers: list[Callable[[], Any]] = field(default_factory=list)

    @classmethod
    def build(
        cls,
        settings: Settings | None = None,
        *,
        engine: Engine | None = None,
        clock: Clock | None = None,
        ledger: Ledger | None = None,
        channels: Channels | None = None,
        cipher: FieldCipher | None = None,
        blind_indexer: BlindIndexer | None = None,
        query_schedule_s: tuple[int, ...] | None = None,
        reports_engine: Engine | None = None,
    ) -> Runtime:
        settings = settings or Settings.from_env()
        owned_engine = engine is None
        engine = engine or make_engine(settings.database_url)
        clock = clock or SystemClock()
        owned_ledger = ledger is None
        ledger = ledger or Ledger(engine, clock=clock)
        # Bound: new values go under data keys kept in the database, wrapped by the key
        # provider's KEK (a cipher without a provider, as tests build, ignores it).
        cipher = (cipher or load_field_cipher(settings)).bind(engine, clock=clock)
        blind = BlindIndex(
            engine,
            blind_indexer or load_blind_indexer(settings.blind_index_key, Path(settings.data_dir)),
            clock,
        )
        merchants = Merchants(engine, cipher, clock)
        channels = channels or load_channels(settings, clock=clock)
        for name in channels.registry.names():
            channel = channels.registry.get(name)
            if isinstance(channel, H2hBankChannel):  # it keeps its payouts in our database
                channel.bind(engine=engine, clock=clock)
        ctx = PaymentsContext(
            engine=engine,
            ledger=ledger,
            channels=channels.registry,
            router=channels.router,
            events=Outbox(cipher),
            clock=clock,
            public_url=settings.public_url,
            cipher=cipher,
            request_hash_key=_derived_key(cipher),
        )
        if query_schedule_s is not None:  # one schedule for every channel (tests, demo)
            ctx.query_schedule_s = lambda _channel: query_schedule_s
        else:
            ctx.query_schedule_s = channels.query_schedule_s
        payments = Payments(
            ctx, cipher=cipher, merchant_fee_bps=_MerchantFees(merchants), blind=blind
        )
        wallets = Wallets(ledger)
        recon = Recon(
            engine=engine,
            ledger=ledger,
            clock=clock,
            payments=payments,
            cipher=cipher,
            fee_bps_of=channels.fee_bps,
            blind=blind,
        )
        owned_reports = reports_engine is None
        if reports_engine is None:
            reports_engine = _reports_engine(settings, engine)
            owned_reports = reports_engine is not engine
        bills = Bills(engine, reports_engine, clock)
        workers = _bill_workers(settings, engine, BillReader(bills, merchants), clock)
        receiver = _finance_receiver(settings)
        slo_config = load_config(settings.slo_file)
        sli = SliRecorder(slo_config, clock)
        ops_config = load_ops_config(settings.ops_incidents_file)
        heartbeats = Heartbeats(engine, clock, node=node_name(), thresholds=ops_config.thresholds)
        runtime = cls(
            settings=settings,
            engine=engine,
            clock=clock,
            ledger=ledger,
            cipher=cipher,
            blind_index=blind,
            api_keys=ApiKeys(engine, clock),
            merchants=merchants,
            notifications=Notifications(engine, cipher=cipher, clock=clock),
            channels=channels,
            payments=payments,
            janitor=Janitor(ctx, payments.settler),
            ledger_checks=LedgerChecks(
                engine,
                ledger,
                clock,
                interval_s=settings.ledger_check_interval_s,
                flows=[FlowCheck(engine, clock)],  # what the balances cannot show
            ),
            wallets=wallets,
            split=Splits(
                engine=engine, ledger=ledger, clock=clock, payments=payments, wallets=wallets
            ),
            custody=Custody(
                engine=engine,
                ledger=ledger,
                clock=clock,
                payments=payments,
                settings=settings,
                cipher=cipher,
                blind=blind,
            ),
            collection=Collections(
                engine=engine,
                ledger=ledger,
                clock=clock,
                payments=payments,
                wallets=wallets,
                cipher=cipher,
                blind=blind,
            ),
            rewards=Rewards(engine=engine, ledger=ledger, clock=clock, cipher=cipher),
            recon=recon,
            recon_daily=DailyClose(
                recon, channels.registry, data_dir=Path(settings.data_dir), clock=clock
            ),
            reports_engine=reports_engine,
            bills=bills,
            bills_admission=Admission(Limits.of(settings, in_workers=workers.processes > 0)),
            bill_workers=workers,
            finance=finance_service.Finance(
                engine,
                clock,
                chart=load_chart(settings.finance_chart_file),
                booked=receiver.booked if receiver else None,
            ),
            finance_push=FinancePush(engine, receiver, clock=clock) if receiver else None,
            slo_config=slo_config,
            sli=sli,
            slo_alerts=BurnRateAlerts(engine, clock, slo_config, recorder=sli),
            incidents=Incidents(engine, clock, config=ops_config),
            worker_watch=WorkerWatch(heartbeats, clock),
            node_watch=NodeWatch(heartbeats, clock),
        )
        runtime.audit_log = AuditLog(engine, clock, cipher=cipher)
        runtime.reveals = Reveals(runtime.audit_log, payment_sources(payments))
        runtime.subjects = Subjects(engine, cipher=cipher, blind=blind, audit=runtime.audit_log)
        runtime.ops = Ops.for_runtime(
            runtime,
            alerts=runtime.slo_alerts,
            heartbeats=heartbeats,
            incidents=runtime.incidents,
            config=ops_config,
            node_watch=runtime.node_watch,
        )
        if receiver is not None:
            runtime._closers.append(receiver.close)
        runtime.bills_admission.workers = runtime.bill_workers
        runtime._closers.append(runtime.bill_workers.close)
        if owned_reports:
            runtime._closers.append(reports_engine.dispose)
        recon.handover.register(_custody_claims(runtime.custody))
        if owned_ledger:
            runtime._closers.append(ledger.close)
        if owned_engine:
            runtime._closers.append(engine.dispose)
        return runtime

    def start_workers(self, *, relay_transport: Any = None) -> None:
        """Hold expiry, the janitor, the webhook relay, the flows (split, custody, collection,
        rewards, debts, the daily reconciliation), the scheduled ledger check and channel
        probes, in daemon threads."""
        stop = self._stop
        # The node's own beat and stall watch: not a supervised worker (it is the beat).
        watch = threading.Thread(
            target=self.node_watch.run, args=(stop,), name="node-watch", daemon=True
        )
        watch.start()
        self._threads.append(watch)
        self._spawn(
            "ledger-expiry",
            run_expiry_worker,
            ledger=self.ledger,
            interval_s=self.settings.expiry_interval_s,
            stop=stop,
        )
        self._spawn(
            "payments-janitor",
            run_janitor,
            self.janitor,
            interval_s=self.janitor_interval_s,
            stop=stop,
        )
        relay = WebhookRelay(
            self.engine,
            endpoints=self.merchants.webhook_endpoint,
            cipher=self.cipher,
            clock=self.clock,
            transport=relay_transport,
        )
        self._closers.insert(0, relay.close)
        self._spawn("webhook-relay", relay.run, stop, RELAY_INTERVAL_S)
        self._spawn("flows", self.run_flows, stop, FLOWS_INTERVAL_S)
        self._spawn("bills-close", self.bills.run_worker, stop, BILLS_CLOSE_INTERVAL_S)
        self._spawn(
            "bill-exports",
            run_export_worker,
            ExportJobs.for_runtime(self),
            poll_s=EXPORT_POLL_S,
            stop=stop,
        )
        self._spawn(
            "file-retention",
            run_retention_worker,
            retention_for(self.settings, self.channels.registry, clock=self.clock),
            interval_s=PURGE_INTERVAL_S,
            stop=stop,
        )
        self._spawn(
            "ledger-check",
            run_check_worker,
            self.ledger_checks,
            poll_s=LEDGER_CHECK_POLL_S,
            stop=stop,
        )
        self._spawn("finance", self.finance.run_worker, stop, finance_service.WORKER_INTERVAL_S)
        if self.finance_push is not None:
            interval_s = self.settings.finance_push_interval_s
            self._spawn("finance-push", self.finance_push.run, stop, interval_s)
        if self.settings.warehouse_export_interval_s > 0:
            exporter = WarehouseExport.for_runtime(self)
            interval_s = self.settings.warehouse_export_interval_s
            self._spawn("warehouse-export", exporter.run, stop, interval_s)
        if self.settings.aml_score_interval_s > 0:
            cases = build_cases(self.engine, self.cipher, self.clock, self.settings)
            rounds = AmlRounds(cases, self.settings.warehouse_path(), self.clock)
            self._spawn("aml-rounds", rounds.run, stop, self.settings.aml_score_interval_s)
        self._spawn("sli-flush", self.sli.run_flusher, self.engine, stop, FLUSH_INTERVAL_S)
        self._spawn("ops", self.ops.run_worker, stop, OPS_TICK_S)
        if self.slo_config.probe.enabled:
            slo_prober = Prober.for_runtime(self, self.slo_config.probe, self.sli)
            self._closers.insert(0, slo_prober.close)
            self._spawn("slo-prober", slo_prober.run, stop)
        prober = HealthProber(self.channels.registry)
        prober.start()
        self._closers.insert(0, prober.stop)

    def run_flows(self, stop: threading.Event, interval_s: float) -> None:
        """The periodic work of split, custody, collection, rewards and wallets (sweeps,
        cut-offs, due collections, debts offset from new income) and the daily close of
        reconciliation, one after another; one failing does not stop the others."""
        while not stop.wait(interval_s):
            flows = (self.split, self.custody, self.collection, self.rewards, self.wallets)
            for flow in (*flows, self.recon_daily):
                try:
                    flow.tick()
                except Exception:
                    log.exception("%s tick failed", type(flow).__name__)

    def _spawn(self, name: str, target: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """A daemon thread that beats a heartbeat each time it waits on the stop event and
        is restarted with backoff if it crashes (ops/heartbeat.py)."""
        run = self.worker_watch.wrap(name, target, args, kwargs, stop=self._stop)
        thread = threading.Thread(target=run, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def close(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)
        if self._threads:
            try:  # a clean stop must not look like a hung node
                self.worker_watch.heartbeats.forget()
            except Exception:
                log.exception("could not remove this node's heartbeats")
        for closer in self._closers:
            closer()
        for name in self.channels.registry.names():
            # Adapters hold pooled connections; the Channel protocol has no say in that.
            release = getattr(self.channels.registry.get(name), "close_connections", None)
            if release is not None:
                release()


def _custody_claims(custody: Custody) -> Claimer:
    """Reconciliation's money with no order, offered to custody: a transfer straight to
    one of its virtual accounts becomes a receipt, refunded at the cut-off if unmatched."""

    def claim(money: UnclaimedMoney) -> str | None:
        return custody.statement_money.take(
            ref=f"brk{money.break_id}",
            virtual_account=money.account,
            amount=money.amount,
            currency=money.currency,
            received_at=money.booked_at,
            payer=BankAccount(account_number=money.payer.account_number, name=money.payer.name),
            held_in=money.held_in,
        )

    return claim


def _reports_engine(settings: Settings, engine: Engine) -> Engine:
    """Bills' own bounded engine, always (reports_pool.py): on the reports URL, else on the
    main database; the main engine itself only for in-memory SQLite (a second engine would
    open an empty database)."""
    url = reports_pool.reports_url(settings, engine)
    if reports_pool.shares_memory(url):
        return engine
    return reports_pool.make_reports_engine(url, settings)


def _bill_workers(
    settings: Settings, engine: Engine, local: BillReader, clock: Clock
) -> BillWorkers:
    """Bills in worker processes reading the reports URL; in the server's threads when
    asked (0 processes) or when that URL is an in-memory database only this process sees."""
    url = reports_pool.reports_url(settings, engine)
    processes = 0 if reports_pool.shares_memory(url) else settings.bills_processes
    return BillWorkers(
        processes=processes, settings=settings, reports_url=url, local=local, clock=clock
    )


def _finance_receiver(settings: Settings) -> FinanceReceiverClient | None:
    """The finance system's client, once its secret exists (`serve` makes the sandbox
    receiver's before building the runtime)."""
    secret_file = settings.finance_secret_path()
    if not secret_file.exists():
        return None
    secret = secret_file.read_text().strip().encode()
    return FinanceReceiverClient(settings.finance_url, secret=secret)


def _derived_key(cipher: FieldCipher) -> bytes:
    """A key for hashing idempotent request bodies, derived from the active field key so
    that every process of a deployment agrees without one more secret to configure."""
    return cipher.derive_key("paycore/idempotency-request-hash")
