"""The HTTP routes, one module-level router per area."""
