"""The HTTP routes, one module-level router per area, in the order the app includes them."""

from . import fhir, invoices, log, messages, ops, reports, suspensions

#: Every router of the API (the console's is in adapter.http.console).
ROUTERS = (messages.router, log.router, ops.router, reports.router, invoices.router, suspensions.router, fhir.router)

__all__ = ["ROUTERS"]
