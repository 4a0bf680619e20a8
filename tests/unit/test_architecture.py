"""The shape of adapter/ holds: imports flow one way, public surfaces are pinned, functions stay short.

Layers, top to bottom (docs/architecture.md): a module may import from its own package, from a
package of its own layer that does not import it back, or from a layer below; never from above.
Every import counts, including those inside functions and under ``TYPE_CHECKING``.
"""

from __future__ import annotations

import ast
import importlib
from collections import defaultdict
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

#: The layer of each part of adapter/ (0 is the top); mappings sits below them all and is pure.
LAYERS = {
    "adapter.http": 0,
    "adapter.cli": 0,
    "adapter.intake": 1,
    "adapter.relay": 1,
    "adapter.reports": 1,
    "adapter.invoices": 1,
    "adapter.codec": 2,
    "adapter.journal": 2,
    "adapter.fhir": 2,
    "adapter.security": 2,
    "adapter.rules": 2,
    "adapter.observability": 3,
    "adapter.config": 3,
    "mappings": 4,
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> Iterator[str]:
    """Every module ``path`` imports (``from pkg import submodule`` counts as the submodule)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            submodules = [f"{base}.{alias.name}" for alias in node.names if _is_module(f"{base}.{alias.name}")]
            # ``from pkg import a, b`` of submodules imports them; of names, the module that has them.
            yield from submodules if len(submodules) == len(node.names) else [base, *submodules]


def _is_module(name: str) -> bool:
    path = ROOT / name.replace(".", "/")
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def unit_of(module: str) -> str | None:
    """The part of the layering ``module`` belongs to (None: outside the project, or adapter's root)."""
    for unit in sorted(LAYERS, key=len, reverse=True):
        if module == unit or module.startswith(unit + "."):
            return unit
    return None


def graph() -> dict[str, set[str]]:
    """Module -> the project's modules it imports."""
    out: dict[str, set[str]] = {}
    for path in [*ROOT.joinpath("adapter").rglob("*.py"), *ROOT.joinpath("mappings").rglob("*.py")]:
        name = module_name(path)
        # A module's own package (and its parents) is initialised before it: no edge to speak of.
        out[name] = {
            m
            for m in imports_of(path)
            if m.split(".")[0] in ("adapter", "mappings") and m != name and not name.startswith(m + ".")
        }
    return out


def violations(modules: Mapping[str, set[str]], layers: Mapping[str, int] = LAYERS) -> list[str]:
    """Imports against the layers, and cycles between parts or between modules."""
    found = []
    units: dict[str, set[str]] = defaultdict(set)
    for module, imported in modules.items():
        here = unit_of(module)
        for target in imported:
            there = unit_of(target)
            if here is None or there is None or here == there:
                continue
            units[here].add(there)
            if layers[there] < layers[here]:
                found.append(f"{module} imports {target}: {here} may not import {there}, a layer above it")
    found += [f"cycle between parts: {' -> '.join(c)}" for c in cycles(units)]
    found += [f"cycle between modules: {' -> '.join(c)}" for c in cycles(modules)]
    return found


def cycles(edges: Mapping[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected knot of ``edges`` (depth-first, colouring)."""
    colour: dict[str, int] = {}
    found: list[list[str]] = []

    def visit(node: str, trail: list[str]) -> None:
        colour[node] = 1
        for nxt in sorted(edges.get(node, ())):
            if colour.get(nxt) == 1:
                found.append([*trail[trail.index(nxt) :], nxt])
            elif nxt not in colour:
                visit(nxt, [*trail, nxt])
        colour[node] = 2

    for node in sorted(edges):
        if node not in colour:
            visit(node, [node])
    return found


def test_imports_flow_one_way_without_cycles() -> None:
    assert violations(graph()) == []


def test_the_check_sees_a_backward_import_and_a_cycle() -> None:
    # Given the real graph, when a lower part imports an upper one, or two modules import each other...
    modules = graph()
    backward = {**modules, "adapter.journal.base": {*modules["adapter.journal.base"], "adapter.http.app"}}
    looped = {**modules, "adapter.codec.checks": {"adapter.codec.internal"}, "adapter.codec.internal": {"adapter.codec.checks"}}
    # ...then the check names them.
    assert any("adapter.journal may not import adapter.http" in v for v in violations(backward))
    assert any(v.startswith("cycle between parts") for v in violations(backward))
    assert any("adapter.codec.checks -> adapter.codec.internal" in v for v in violations(looped))


def test_mappings_import_nothing_of_the_adapter() -> None:
    """mappings/ is pure: no I/O, and nothing of adapter/, which holds all of it."""
    assert {
        m: sorted(i) for m, i in graph().items() if m.startswith("mappings") and any(x.startswith("adapter") for x in i)
    } == {}


#: Each package's public names. A change here is a change of the package's surface: on purpose.
EXPORTS = {
    "adapter": ["create_app", "main"],
    "adapter.cli": ["app", "main"],
    "adapter.codec": [
        "DEFAULT_LIMITS",
        "compact_json",
        "decode",
        "decode_json",
        "decode_xml",
        "encode_json",
        "encode_xml",
        "media_kind",
        "read_bundle",
        "render",
        "wants_xml",
    ],
    "adapter.fhir": [
        "ClientCredentials",
        "Decision",
        "EntryResult",
        "FhirClient",
        "Final",
        "RelayError",
        "Retryable",
        "TokenRefused",
        "TransactionResult",
        "classify",
        "compute_backoff",
        "mapped_errors",
        "retrying",
        "timeouts",
    ],
    "adapter.http": ["create_app"],
    "adapter.intake": ["GroupCommit", "Intake", "key_for", "read_body", "rekey_patients"],
    "adapter.journal": [
        "Accept",
        "Action",
        "Attempt",
        "AuditEntry",
        "Conflict",
        "Invoice",
        "Journal",
        "JournalUnavailable",
        "Outbound",
        "Query",
        "Record",
        "State",
        "Suspension",
        "actions",
        "open_journal",
    ],
    "adapter.observability": ["CorrelationMiddleware", "Metrics", "correlation_id", "logging_config", "redact", "setup_logging"],
    "adapter.relay": [
        "OutboundWorker",
        "RelayResult",
        "Watch",
        "Worker",
        "bundle_of",
        "channels",
        "relay_message",
        "run_scheduler",
    ],
    "adapter.rules": ["acknowledgements", "consent", "deadlines", "findings", "halland", "holidays", "payment"],
    "adapter.security": [
        "Accounts",
        "Caller",
        "NotAllowed",
        "PatientHasher",
        "Role",
        "Senders",
        "ServerKeys",
        "Sessions",
        "User",
    ],
}


@pytest.mark.parametrize("package", sorted(EXPORTS))
def test_each_package_exports_its_pinned_names(package: str) -> None:
    module = importlib.import_module(package)
    assert module.__all__ == EXPORTS[package]
    assert [name for name in module.__all__ if not hasattr(module, name)] == []


def test_every_package_of_the_adapter_has_a_sorted_all() -> None:
    for init in ROOT.joinpath("adapter").rglob("__init__.py"):
        module = importlib.import_module(module_name(init))
        exported = getattr(module, "__all__", [])
        assert exported == sorted(exported), module.__name__
        assert [name for name in exported if not hasattr(module, name)] == [], module.__name__


#: Longest function allowed in adapter/ (lines, decorators left out).
MAX_LINES = 80
#: Modules allowed directly in adapter/, beside its subpackages.
MAX_TOP_MODULES = 8


def test_no_function_in_the_adapter_is_longer_than_80_lines() -> None:
    long = []
    for path in ROOT.joinpath("adapter").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > MAX_LINES:
                    long.append(f"{module_name(path)}.{node.name}: {lines} lines")
    assert long == []


def test_the_adapter_is_subpackages_with_few_modules_beside_them() -> None:
    top = sorted(p.name for p in ROOT.joinpath("adapter").glob("*.py"))
    assert len(top) <= MAX_TOP_MODULES, top
    assert {p.name for p in ROOT.joinpath("adapter").iterdir() if p.is_dir() and (p / "__init__.py").exists()} >= {
        "http",
        "cli",
        "intake",
        "relay",
        "codec",
        "journal",
        "fhir",
        "security",
        "observability",
        "rules",
    }


def test_create_app_is_a_short_composition() -> None:
    tree = ast.parse(ROOT.joinpath("adapter/http/app.py").read_text("utf-8"))
    (factory,) = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "create_app"]
    assert (factory.end_lineno or 0) - factory.lineno + 1 <= 60
