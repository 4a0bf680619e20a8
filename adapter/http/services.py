"""The application's state, typed: what the routes use, built once per app.

    svc: Svc                         a route's parameter: the app's Services (a FastAPI dependency)

:func:`adapter.http.create_app` builds what needs no I/O (accounts, senders, metrics, the
region's tables); the lifespan (:mod:`adapter.http.lifespan`) opens the rest (the journal, the
FHIR client, the intake, the watcher) and closes it again. A route reads ``svc.journal``, never
``request.app.state``.
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import Depends, Request

from adapter.config import Limits, Settings
from adapter.fhir import FhirClient
from adapter.intake import Intake
from adapter.journal import Journal, open_journal
from adapter.observability import Metrics
from adapter.relay import Watch, Worker
from adapter.reports import load_payment_rules, load_units
from adapter.rules.payment import PaymentRules
from adapter.security import Accounts, PatientHasher, Senders, ServerKeys

__all__ = ["Services", "Svc", "services"]

log = logging.getLogger(__name__)


class Services:
    """The app's parts. Those opened by the lifespan exist only while the app runs."""

    fhir: FhirClient
    journal: Journal
    intake: Intake
    hasher: PatientHasher
    watch: Watch

    def __init__(self, settings: Settings, *, fhir: FhirClient | None = None):
        self.settings = settings
        self.limits = Limits.of(settings)
        self.accounts = Accounts.load(settings.users_file, cost=settings.password_cost)
        if self.accounts.open:
            log.warning("no SAMVERKAN_USERS_FILE: the console and the operator routes are open to anyone who can reach them")
        self.senders = Senders(settings)
        self.metrics = Metrics()
        self.units: dict[str, str] | None = load_units(settings.units_file)
        self.payment_rules: dict[str, PaymentRules] = load_payment_rules(settings.payment_file)
        #: A client given by the caller (tests) is used and left open; else the lifespan makes one.
        self.given_fhir = fhir
        self.worker: Worker | None = None
        journal = open_journal(settings)
        try:
            #: The session and search keys; a replica whose keys differ from the others' stops here.
            self.keys = ServerKeys.resolve(settings, journal)
        finally:
            journal.close()


def services(request: Request) -> Services:
    svc: Services = request.app.state.services
    return svc


#: A route's parameter for the app's services.
Svc = Annotated[Services, Depends(services)]
