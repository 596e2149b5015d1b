"""Dependencies point one way (docs/architecture.md, "Layers"): entry points -> services -> models and adapters
-> the resource catalogue -> the foundation. A module may import its own package and the layers below it, never
a layer above it nor a peer package of its own layer."""

from __future__ import annotations

import ast
from pathlib import Path

import chalicelib

ROOT = Path(chalicelib.__file__).parent

# Highest first. Every top-level module or package of chalicelib must be named here.
LAYERS: list[set[str]] = [
    {"local"},  # the embedded stack: composes everything, as app.py does on Lambda
    {"infra"},  # the template and state machine generators: they describe everything (the catalogue aside)
    {"functions"},  # each Lambda function's entry module: composes what that function serves
    {"api", "workers"},  # inbound: HTTP routes; queue, stream, event and schedule handlers
    {"services"},  # the rules
    {"models", "adapters"},  # PynamoDB models and repositories; outbound clients (AWS, git, processes)
    {"catalogue"},  # what exists (infra/resources.py) and the build's contract (infra/buildspec.py, build_upload.py)
    {"settings", "errors", "vocabulary", "observability", "aws", "concurrency"},  # the foundation
]
FOUNDATION = LAYERS[-1]
# The modules of infra/ that run-time code reads; the rest of infra/ generates the template and the state machine.
CATALOGUE = {"chalicelib.infra.resources", "chalicelib.infra.buildspec", "chalicelib.infra.build_upload"}
LEVEL = {name: len(LAYERS) - index for index, names in enumerate(LAYERS) for name in names}


def _unit(module: str) -> str:
    """`chalicelib.services.deployments.queries` -> `services`; the foundation is one unit, and so is the catalogue."""
    if module in CATALOGUE:
        return "catalogue"
    name = module.split(".")[1]
    return "foundation" if name in FOUNDATION else name


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
            # `from chalicelib import services` names a package, not an attribute
            found.update(f"{target}.{alias.name}" for alias in node.names if target == "chalicelib")
    return {name for name in found if name.startswith("chalicelib.")}


def _level(unit: str) -> int:
    return LEVEL[next(iter(FOUNDATION))] if unit == "foundation" else LEVEL[unit]


def _upward_imports() -> list[str]:
    wrong = []
    for path in sorted(ROOT.rglob("*.py")):
        source = _unit(_module_name(path)) if path.parent != ROOT or path.stem != "__init__" else None
        if source is None:
            continue
        for target in sorted(_imports(path)):
            goal = _unit(target)
            if goal == source:
                continue
            if _level(goal) >= _level(source):
                wrong.append(f"{_module_name(path)} imports {target} ({goal} is not below {source})")
    return wrong


def test_every_part_of_chalicelib_has_a_layer():
    parts = {path.stem for path in ROOT.glob("*.py") if path.stem != "__init__"}
    parts |= {path.parent.name for path in ROOT.glob("*/__init__.py")}
    assert parts - set(LEVEL) == set(), "every module and package of chalicelib belongs to one layer"


def test_no_module_imports_a_layer_above_or_beside_its_own():
    assert _upward_imports() == []


def test_the_rule_catches_an_upward_import(tmp_path, monkeypatch):
    """The walk itself works: a models module importing a service is reported."""
    package = tmp_path / "chalicelib"
    (package / "models").mkdir(parents=True)
    (package / "services").mkdir()
    (package / "__init__.py").write_text("")
    (package / "models" / "bad.py").write_text("from chalicelib.services import projects\n")
    (package / "services" / "good.py").write_text("from ..models import bad\nfrom chalicelib.settings import x\n")
    monkeypatch.setitem(globals(), "ROOT", package)
    assert _upward_imports() == [
        "chalicelib.models.bad imports chalicelib.services (services is not below models)",
    ]
