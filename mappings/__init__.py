"""Pure translation between samverkan's internal messages and FHIR R4: no I/O, no clock.

One module per concept, each a pair ``to_fhir`` / ``from_fhir``; ``mappings.model`` holds the
internal concepts and ``mappings.errors`` the errors that name the element they are about.
"""

from .messages import from_fhir, to_bundle, to_fhir

__all__ = ["from_fhir", "to_bundle", "to_fhir"]
