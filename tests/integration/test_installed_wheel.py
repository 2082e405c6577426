"""cardwright as a user installs it: sdist and wheel built, the wheel in a fresh virtual
environment outside the checkout, the command run from there against the real stack.

Editable installs hide missing subpackages and top-level name clashes; these tests do not.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import venv
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# The repository's folders that install as cardwright.<name> (cardwright/<name> links to each).
NAMESPACED = ("schema", "producers", "consumers", "extractors", "storage")
# Building in an isolated environment and installing the dependencies take tens of seconds
# with a warm pip cache; several minutes leave room for a cold one.
INSTALL_TIMEOUT_S = 900


@dataclass(frozen=True, slots=True)
class Installed:
    wheel: Path
    sdist: Path
    bin: Path  # the fresh environment's bin/ directory

    def run(self, *args: str, env: dict[str, str] | None = None, timeout: float = 120.0) -> str:
        done = subprocess.run(
            [str(self.bin / "cardwright"), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env if env is not None else _clean_env(),
            cwd=self.bin.parent,  # outside the checkout: nothing is importable by accident
            check=False,
        )
        assert done.returncode == 0, f"cardwright {' '.join(args)}: {done.stderr}"
        return done.stdout


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV"}}
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    out = tmp_path_factory.mktemp("dist")
    # No --sdist/--wheel: build makes the sdist, then the wheel from the unpacked sdist, so the
    # wheel proves the sdist complete and no stale build/ of the checkout can leak into it.
    subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(REPO)],
        check=True,
        capture_output=True,
        timeout=INSTALL_TIMEOUT_S,
    )
    wheel = next(out.glob("cardwright-*.whl"))
    sdist = next(out.glob("cardwright-*.tar.gz"))
    env_dir = tmp_path_factory.mktemp("venv")
    venv.EnvBuilder(with_pip=True, clear=True).create(env_dir)
    # PyPI's `schema` beside ours: before the namespace it overwrote our top-level `schema`.
    subprocess.run(
        [str(env_dir / "bin" / "pip"), "install", "-q", str(wheel), "schema==0.7.7"],
        check=True,
        capture_output=True,
        timeout=INSTALL_TIMEOUT_S,
        cwd=env_dir,
    )
    yield Installed(wheel=wheel, sdist=sdist, bin=env_dir / "bin")


def _tree_modules() -> set[str]:
    """Every Python module of the checkout's product packages, by its installed name."""
    found: set[str] = set()
    # os.walk, not Path.rglob: the namespaced folders are symlinks, which rglob does not follow.
    for root, _dirs, files in os.walk(REPO / "cardwright", followlinks=True):
        rel = Path(root).relative_to(REPO)
        found.update("/".join((*rel.parts, f)) for f in files if f.endswith(".py"))
    return found


def test_the_wheel_holds_every_module_of_the_tree_and_nothing_at_the_top_level(
    installed: Installed,
) -> None:
    with zipfile.ZipFile(installed.wheel) as wheel:
        names = set(wheel.namelist())
    modules = {n for n in names if n.endswith(".py")}
    assert modules == _tree_modules()
    top_level = {n.split("/", 1)[0] for n in names if not n.startswith("cardwright-")}
    assert top_level == {"cardwright"}
    for data in (
        "cardwright/py.typed",
        "cardwright/schema/message_event.v1.schema.json",
        "cardwright/storage/migrations/script.py.mako",
        "cardwright/samples/demo.jsonl",
    ):
        assert data in names
    for name in NAMESPACED:
        assert f"cardwright/{name}/__init__.py" in names


def test_the_sdist_builds_the_same_modules(installed: Installed) -> None:
    with tarfile.open(installed.sdist) as sdist:
        members = {"/".join(m.split("/")[1:]) for m in sdist.getnames()}
    assert _tree_modules() <= members
    assert "LICENSE" in members and "pyproject.toml" in members


def test_help_version_and_migrate_sql_run_from_the_installed_wheel(installed: Installed) -> None:
    from cardwright import __version__

    assert "Usage" in installed.run("--help")
    assert installed.run("--version").strip() == f"cardwright {__version__}"
    assert "CREATE TABLE extract_runs" in installed.run("migrate", "--sql")


def test_extractor_entry_points_and_pypi_schema_both_import(installed: Installed) -> None:
    program = (
        "from importlib.metadata import entry_points\n"
        "import schema\n"  # PyPI's validation library, not ours
        "assert schema.Schema(int).validate(3) == 3\n"
        "eps = entry_points(group='cardwright.extractors')\n"
        "for ep in eps:\n"
        "    cls = ep.load()\n"
        "    print(ep.name, cls.__module__)\n"
    )
    done = subprocess.run(
        [str(installed.bin / "python"), "-c", program],
        capture_output=True,
        text=True,
        timeout=60,
        env=_clean_env(),
        cwd=installed.bin.parent,
        check=True,
    )
    assert "rules cardwright.extractors.rules" in done.stdout


@pytest.mark.slow
def test_publish_and_consume_the_demo_sample_from_the_installed_wheel(
    installed: Installed, kafka_bootstrap: str, database_url: str, topic_name: str, group_id: str
) -> None:
    env = _clean_env(
        CARDWRIGHT_KAFKA_BOOTSTRAP_SERVERS=kafka_bootstrap,
        CARDWRIGHT_DATABASE_URL=database_url,
        CARDWRIGHT_EVENTS_TOPIC=topic_name,
        CARDWRIGHT_GROUP_ID=group_id,
        CARDWRIGHT_DEBOUNCE_MS="200",
        CARDWRIGHT_LOG_FORMAT="json",
    )
    sample = REPO / "cardwright" / "samples" / "demo.jsonl"
    installed.run("migrate", env=env)
    installed.run("publish", "--raw", str(sample), env=env)
    installed.run("consume", "--until-idle", "2", env=env, timeout=180)
    cards = installed.run(
        "cards", "--user", "user-ada", "--topic", "topic-lisbon", "--json", env=env
    )
    assert '"kind"' in cards
    runs = installed.run("runs", "--user", "user-ada", "--topic", "topic-lisbon", env=env)
    assert "rules@" in runs
