"""What runs while the app serves: the journal and the FHIR client opened, the relay workers, the
outbound channels, the overdue scheduler and the watcher started; all stopped and closed again.

On PostgreSQL the relay worker has a connection of its own, so its claims never queue behind an
accept. SQLite has one writer at a time anyway, and a second connection would wait for the lock in
sleeps of up to 100 ms; one connection hands it over at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from adapter.config import RetryPolicy, Settings
from adapter.fhir import FhirClient
from adapter.intake import Intake, rekey_patients
from adapter.journal import Journal, open_journal
from adapter.relay import OutboundWorker, Watch, Worker, channels, run_scheduler
from adapter.security import PatientHasher, Sessions

from .services import Services

__all__ = ["lifespan"]


def _worker_id(settings: Settings) -> str:
    return settings.worker_id or f"{socket.gethostname()}:{settings.port}"


def _workers(svc: Services, journal: Journal, stop: asyncio.Event) -> list[asyncio.Task[None]]:
    """The relay worker and, when channels are configured, the outbound worker: running until ``stop``."""
    settings = svc.settings
    policy = RetryPolicy.of(settings)
    svc.worker = Worker(
        journal,
        svc.fhir,
        parallel=settings.relay_parallel,
        lease=settings.claim_lease,
        policy=policy,
        worker_id=_worker_id(settings),
        retention=settings.retention_days * 86400 if settings.retention_days else None,
        metrics=svc.metrics,
    )
    tasks = [asyncio.create_task(svc.worker.run(stop))]
    if channels(settings.outbound_dir, settings.outbound_url):
        sender = OutboundWorker(
            journal,
            directory=settings.outbound_dir,
            url=settings.outbound_url,
            policy=policy,
            timeout=settings.fhir_timeout,
            verify=svc.fhir.verify,  # an https outbound URL trusts the CAs the FHIR server does
            lease=settings.claim_lease,
            worker_id=_worker_id(settings),
        )
        tasks.append(asyncio.create_task(sender.run(stop)))
    return tasks


def _background(svc: Services, stop: asyncio.Event) -> list[asyncio.Task[None]]:
    """The overdue scheduler and the watcher (alerts, the readiness of the FHIR server)."""
    settings = svc.settings
    jobs = [asyncio.create_task(svc.watch.run(stop, interval=settings.alert_interval))]
    if settings.overdue_interval > 0:
        jobs.append(asyncio.create_task(run_scheduler(svc.fhir, stop, interval=settings.overdue_interval)))
    return jobs


def _open(svc: Services) -> Journal:
    """Opens the journal and the FHIR client, and what is built on them; the relay worker's journal."""
    settings = svc.settings
    svc.fhir = svc.given_fhir or FhirClient.from_settings(settings)
    svc.journal = open_journal(settings)
    svc.hasher = PatientHasher(svc.keys.search.encode())
    rekey_patients(svc.journal, svc.hasher)
    svc.accounts.sessions = Sessions(
        svc.journal, idle=settings.session_idle_minutes * 60, absolute=settings.session_max_hours * 3600
    )
    svc.intake = Intake(
        svc.journal,
        hasher=svc.hasher,
        limits=svc.limits,
        metrics=svc.metrics,
        outbound=channels(settings.outbound_dir, settings.outbound_url),
    )
    svc.watch = Watch(svc.journal, svc.fhir, alert_url=settings.alert_url)
    return open_journal(settings) if settings.relay_parallel > 0 and settings.journal_url else svc.journal


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    svc: Services = app.state.services
    worker_journal = _open(svc)
    stop = asyncio.Event()
    workers = _workers(svc, worker_journal, stop) if svc.settings.relay_parallel > 0 else []
    background = _background(svc, stop)
    try:
        yield
    finally:
        stop.set()
        for task in workers:
            await task  # finishes what it started, gives back the rest
        for job in background:
            # A scheduler's round may walk thousands of Tasks; each write is conditional
            # (If-Match), so one cut short is done again by the next one: no need to wait.
            job.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await job
        svc.journal.close()
        if worker_journal is not svc.journal:
            worker_journal.close()
        if svc.given_fhir is None:
            await svc.fhir.aclose()
