"""A Markdown page per profile, and one for the extensions, from the package's JSON.

    samverkan profiles docs --out docs/profiles

Each page lists what the profile constrains (cardinality, fixed values, slices, must-support),
its bindings and invariants, and an example resource mapped from a fixture. A test regenerates
the pages and compares them with docs/profiles/, so the pages cannot drift from the JSON.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from adapter.codec import decode
from adapter.fhir.profiles import package
from adapter.relay import bundle_of

__all__ = ["pages", "write_pages"]

_FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "messages"
#: The examples' acceptance time (an AuditEvent's ``recorded``): fixed, so the pages are stable.
_ACCEPTED = datetime(2026, 3, 2, 8, 15, 0, 250000, tzinfo=UTC)


def _example(resource_type: str) -> dict[str, Any] | None:
    """The first resource of ``resource_type`` that a fixture's relay sends (most complete first)."""
    best: dict[str, Any] | None = None
    for path in sorted(_FIXTURES.glob("*.*")) if _FIXTURES.is_dir() else []:
        ctype = "application/json" if path.suffix == ".json" else "application/xml"
        for entry in bundle_of(decode(path.read_bytes(), ctype), recorded=_ACCEPTED)["entry"]:
            res = entry["resource"]
            if res["resourceType"] == resource_type and (best is None or len(json.dumps(res)) > len(json.dumps(best))):
                best = res
    return best


def _rule(el: dict[str, Any]) -> str:
    parts = []
    if "min" in el and "max" in el:
        parts.append(f"{el['min']}..{el['max']}")
    elif "min" in el:
        parts.append(f"min {el['min']}")
    elif "max" in el:
        parts.append(f"max {el['max']}")
    for key, value in el.items():
        if key.startswith("fixed"):
            parts.append(f"fixed `{value}`")
    if "slicing" in el:
        sl = el["slicing"]
        parts.append("sliced by " + ", ".join(f"{d['type']} of `{d['path']}`" for d in sl["discriminator"]) + f" ({sl['rules']})")
    for t in el.get("type", ()):
        for prof in t.get("profile", ()):
            parts.append(f"extension [{prof.rsplit('/', 1)[1]}](extensions.md#{prof.rsplit('/', 1)[1]})")
        if "profile" not in t:
            parts.append(f"type {t['code']}")
    return "; ".join(parts)


def _page(sd: dict[str, Any]) -> str:
    lines = [
        f"# {sd['title']}",
        "",
        f"`{sd['url']}` (version {sd['version']}), a profile of "
        f"[{sd['type']}](https://hl7.org/fhir/R4/{sd['type'].lower()}.html) R4.",
        "",
        sd["description"],
        "",
        f"Generated from `profiles/StructureDefinition-{sd['id']}.json` by `samverkan profiles docs`.",
        "",
        "## Elements",
        "",
        "| element | constraint | must-support |",
        "|---|---|---|",
    ]
    bindings, invariants = [], []
    for el in sd["differential"]["element"]:
        invariants += el.get("constraint", [])
        if "binding" in el:
            bindings.append((el["id"], el["binding"]))
        rule = _rule(el)
        if rule or el.get("mustSupport"):
            lines.append(f"| `{el['id']}` | {rule} | {'yes' if el.get('mustSupport') else ''} |")
    lines += ["", "## Bindings", ""]
    lines += [f"- `{where}`: {b['strength']} to `{b['valueSet']}`" for where, b in bindings] or ["None beyond core R4."]
    lines += ["", "## Invariants", ""]
    if invariants:
        lines += ["| key | severity | rule | FHIRPath |", "|---|---|---|---|"]
        lines += [f"| {c['key']} | {c['severity']} | {c['human']} | `{c['expression']}` |" for c in invariants]
    else:
        lines.append("None beyond core R4.")
    example = _example(sd["type"])
    if example is not None:
        lines += [
            "",
            "## Example",
            "",
            "As the adapter maps it from a fixture (references are the bundle's fullUrls):",
            "",
            "```json",
        ]
        lines += [json.dumps(example, ensure_ascii=False, indent=2), "```"]
    return "\n".join(lines) + "\n"


def _extensions_page(exts: list[dict[str, Any]]) -> str:
    lines = ["# Extensions", "", "Generated from `profiles/StructureDefinition-*.json` by `samverkan profiles docs`.", ""]
    for sd in exts:
        lines += [f"## {sd['id']}", "", f"`{sd['url']}`: {sd['description']}", ""]
        lines.append("On: " + ", ".join(f"`{c['expression']}`" for c in sd.get("context", ())))
        parts = []
        for el in sd["differential"]["element"]:
            if el["path"].endswith("value[x]") and "type" in el:
                name = el["id"].split(":")[1].split(".")[0] if ":" in el["id"] else "value"
                binding = f", bound ({el['binding']['strength']}) to `{el['binding']['valueSet']}`" if "binding" in el else ""
                parts.append(f"`{name}`: {el['type'][0]['code']}{binding}")
        lines += ["", "Value: " + "; ".join(parts), ""]
    return "\n".join(lines)


def pages() -> dict[str, str]:
    """File name -> page text, for every profile and the extensions."""
    sds = [r for r in package() if r["resourceType"] == "StructureDefinition"]
    out = {f"{sd['id']}.md": _page(sd) for sd in sds if sd["type"] != "Extension"}
    out["extensions.md"] = _extensions_page([sd for sd in sds if sd["type"] == "Extension"])
    index = ["# Profiles", "", "| profile | of | description |", "|---|---|---|"]
    index += [
        f"| [{sd['title']}]({sd['id']}.md) | {sd['type']} | {sd['description']} |" for sd in sds if sd["type"] != "Extension"
    ]
    index += ["", "[Extensions](extensions.md). CodeSystems and ConceptMaps: [../mapping.md](../mapping.md)."]
    out["README.md"] = "\n".join(index) + "\n"
    return out


def write_pages(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in pages().items():
        path = directory / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
