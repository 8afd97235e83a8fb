"""Runs the compiled C live test (build/test_live, from `make -C clients/c test`)
against the rosterd started by the shared harness, with a directory seeded over SCIM."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from roster_client.testing import Daemon, SeededDirectory

pytestmark = pytest.mark.live

BINARY = Path(__file__).resolve().parents[1] / "build" / "test_live"


def test_c_client_against_rosterd(rosterd: Daemon, seeded: SeededDirectory) -> None:
    if not BINARY.is_file():
        pytest.fail(f"{BINARY} is missing: build it with `make -C clients/c test`", pytrace=False)
    command = [
        str(BINARY),
        rosterd.socket_path,
        seeded.directory_id,
        "alice@example.com",
        "bob@example.com",
        "admins",
        str(seeded.revision),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"{' '.join(command)}\n{result.stdout}\n{result.stderr}"
    assert "test_live: 7 passed, 0 failed" in result.stdout
