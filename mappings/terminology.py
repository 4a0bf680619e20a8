"""Code translations, read once from the ConceptMaps in ``profiles/`` (package data).

Code tables are data, not dictionaries in code: ``translate("meeting-mode-to-participation-mode",
"video")`` gives ``"VIDEOCONF"``. A code a map does not cover is an error (``UnmappedCode``), never
passed through: a silent fall-back would put a wrong code on the wire. ``reverse`` reads a map
backwards where the map is one-to-one.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

from . import identifiers as ids
from .errors import UnmappedCode

__all__ = ["code_system", "has_translation", "reverse", "target_system", "translate"]


@cache
def _map(name: str) -> tuple[str, str, dict[str, str]]:
    """(source system, target system, source code -> target code) of ConceptMap ``name``."""
    text = resources.files("mappings").joinpath(f"_profiles/ConceptMap-{name}.json").read_text("utf-8")
    data = json.loads(text)
    if data["url"] != f"{ids.CANONICAL}/ConceptMap/{name}":
        raise RuntimeError(f"ConceptMap {name} has url {data['url']}, not under the package's canonical base")
    (group,) = data["group"]
    table = {el["code"]: el["target"][0]["code"] for el in group["element"]}
    return group["source"], group["target"], table


def translate(name: str, code: str, *, path: str | None = None) -> str:
    """The target code of ``code`` in ConceptMap ``name``.

    >>> translate("meeting-mode-to-participation-mode", "video")
    'VIDEOCONF'
    """
    source, _, table = _map(name)
    found = table.get(code)
    if found is None:
        raise UnmappedCode(f"code {code!r} has no translation in ConceptMap {name}", path=path, system=source, code=code)
    return found


def has_translation(name: str, code: str) -> bool:
    return code in _map(name)[2]


def reverse(name: str, target: str, *, path: str | None = None) -> str:
    """The one source code that ConceptMap ``name`` translates to ``target``.

    >>> reverse("meeting-mode-to-participation-mode", "PHONE")
    'telefon'
    """
    _, system, table = _map(name)
    sources = [s for s, t in table.items() if t == target]
    if len(sources) != 1:
        raise UnmappedCode(
            f"code {target!r} cannot be read back through ConceptMap {name}",
            path=path,
            path_kind="fhirpath",
            system=system,
            code=target,
        )
    return sources[0]


def target_system(name: str) -> str:
    return _map(name)[1]


def code_system(name: str) -> str:
    """The canonical URL of one of our CodeSystems, e.g. ``code_system("sip-status")``."""
    return f"{ids.CANONICAL}/CodeSystem/{name}"
