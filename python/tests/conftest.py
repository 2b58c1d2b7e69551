"""Shared fixtures of the Python test suite (run from the repository root: `scripts/test.sh`,
or `python -m pytest python/tests` once the package is installed)."""

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ROOT / "configs"


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def cli() -> Path:
    """The command line, to compare against: BALNET_CLI or target/release/balnet. Missing,
    the tests that need it are skipped, unless BALNET_REQUIRE_CLI=1 (scripts/test.sh sets
    it after building the binary): then they fail."""
    p = Path(os.environ.get("BALNET_CLI", ROOT / "target" / "release" / "balnet"))
    if not (p.is_file() and os.access(p, os.X_OK)):
        msg = f"no balnet binary at {p} (cargo build --release)"
        if os.environ.get("BALNET_REQUIRE_CLI") == "1":
            pytest.fail(msg)
        pytest.skip(msg)
    return p


@pytest.fixture
def work(tmp_path, monkeypatch) -> Path:
    """A temporary working directory holding a copy of configs/."""
    shutil.copytree(CONFIGS, tmp_path / "configs")
    monkeypatch.chdir(tmp_path)
    return tmp_path
