"""The checker shares nothing with the product: no module of it imports ``cardwright``.

The checker is every module of tests/chaos except the harness (``HARNESS``: what runs the stack,
the workers and the workload, and the oracle's plug-in wrapper), which may use the product's
stack helpers, CLI and publisher. A new module is on the checker's side unless listed here.
Checked twice: statically (every import statement, at any depth) and by importing the checker
in a fresh interpreter and looking at what got loaded.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
HARNESS = {
    "brokers",  # Kafka cluster faults: the product's stack helpers
    "cluster",
    "conftest",
    "faults",
    "harness",
    "injector",
    "misbehaving",  # plug-ins: the oracle slow, hanging or flaky
    "oracle",  # the plug-in: wraps oracle_rule in the product's CardDraft
    "report",
    "run",
    "sampler",
    "scenarios",
    "stack",
    "workload",  # uses the product's partitioner to keep moved messages in one partition
}


def checker_modules() -> list[str]:
    names = sorted(p.stem for p in HERE.glob("*.py") if p.stem != "__init__")
    return [n for n in names if n not in HARNESS and not n.startswith("test_")]


def imported_names(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_the_checker_modules_are_the_expected_ones() -> None:
    assert {"contract", "model", "expected", "oracle_rule", "checker"} <= set(checker_modules())
    assert {"check_state", "check_samples", "check_offsets", "events", "handmade"} <= set(
        checker_modules()
    )


def test_no_checker_module_imports_the_product() -> None:
    for name in checker_modules():
        product = {
            m for m in imported_names(HERE / f"{name}.py") if m.split(".")[0] == "cardwright"
        }
        assert not product, f"tests/chaos/{name}.py imports {sorted(product)}"


def test_importing_the_checker_loads_no_product_module() -> None:
    modules = [f"tests.chaos.{name}" for name in checker_modules()]
    script = (
        "import importlib, json, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] == 'cardwright')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    )
    loaded = json.loads(out.stdout)
    assert loaded == [], f"importing the checker loaded {loaded}"
