"""The layers hold: the import contracts pass, fail on a forbidden import, and the worker loads no kopf.

The contracts live in pyproject.toml (``[tool.importlinter]``); ``make lint`` and ``.ci/run`` run
them. These tests run the real ``lint-imports`` on the real tree, and on a copy of the package
with one forbidden import added, to show the contracts can fail.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(package_parent: Path, config: Path) -> subprocess.CompletedProcess[str]:
    # PYTHONPATH first: the package is imported from there, ahead of the editable install.
    env = {**os.environ, "PYTHONPATH": str(package_parent)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", str(config)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )


def imported_modules(code: str) -> set[str]:
    """The modules a fresh interpreter has loaded after running ``code``."""
    probe = f"{code}\nimport sys\nprint('\\n'.join(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True
    )
    return set(done.stdout.split())


@pytest.fixture
def package_copy(tmp_path: Path) -> Path:
    """A copy of the naksha package, to break on purpose."""
    shutil.copytree(
        ROOT / "operator" / "naksha", tmp_path / "naksha", ignore=shutil.ignore_patterns("__pycache__")
    )
    return tmp_path


def test_the_tree_keeps_every_layer_contract() -> None:
    done = lint_imports(ROOT / "operator", ROOT / "pyproject.toml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


def test_a_domain_module_importing_the_api_client_breaks_the_contracts(package_copy: Path) -> None:
    expressions = package_copy / "naksha" / "domain" / "expressions.py"
    expressions.write_text(expressions.read_text() + "\nfrom naksha.kube import Kube  # noqa: E402,F401\n")
    done = lint_imports(package_copy, ROOT / "pyproject.toml")
    assert done.returncode != 0
    assert "BROKEN" in done.stdout
    assert "naksha.domain.expressions -> naksha.kube" in done.stdout


def test_kopf_in_the_error_tree_breaks_the_contracts(package_copy: Path) -> None:
    errors = package_copy / "naksha" / "errors.py"
    errors.write_text(errors.read_text() + "\nimport kopf  # noqa: E402,F401\n")
    done = lint_imports(package_copy, ROOT / "pyproject.toml")
    assert done.returncode != 0
    assert "Only the handlers and the operator's entry point load kopf" in done.stdout
    assert "BROKEN" in done.stdout


def test_the_insight_worker_loads_no_kopf() -> None:
    # The worker's entry as its pod runs it: ``naksha insight-worker`` → naksha.cli → the worker.
    loaded = imported_modules("import naksha.cli\nimport naksha.services.insight.worker")
    assert "naksha.services.insight.worker" in loaded
    assert not {name for name in loaded if name == "kopf" or name.startswith("kopf.")}


def test_the_worker_import_time_report_lists_no_kopf() -> None:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import naksha.services.insight.worker"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    modules = [line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if "|" in line]
    assert "naksha.services.insight.worker" in modules
    assert not [name for name in modules if name.split(".")[0] == "kopf"]


def test_the_operator_does_load_kopf() -> None:
    # The check above would pass vacuously if the probe could not see kopf at all.
    assert "kopf" in imported_modules("import naksha.handlers")


def test_no_test_module_imports_another() -> None:
    # Shared helpers live in tests/support (fixtures in a conftest), so a test module can be read,
    # moved or deleted on its own.
    tests = ROOT / "tests"
    importing = [
        f"{path.relative_to(ROOT)}: {line.strip()}"
        for path in sorted(tests.rglob("test_*.py"))
        for line in path.read_text().splitlines()
        if re.match(r"\s*(from|import) tests\.(?!support\b)[\w.]*\btest_\w+", line)
    ]
    assert importing == []
