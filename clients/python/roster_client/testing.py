"""Live-test harness: run a real rosterd, feed it over SCIM, call it over the socket.

Used by the Python client's tests and by the C client's live test (both
conftest.py files import the fixtures below). Applications can use it too.

rosterd's contract relied on here:
``rosterd --data-dir DIR --socket PATH --scim-listen 127.0.0.1:0 --ready-file FILE``
writes FILE atomically once ready, containing
``{"pid": N, "socket": "...", "scim_url": "http://127.0.0.1:PORT", "revision": N}``,
and exits 0 on SIGTERM. The binary is ``$ROSTERD``, else ``.build/debug/rosterd``
of the enclosing Swift package. A missing binary FAILS the tests that need it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from .client import RosterClient

__all__ = [
    "Daemon",
    "ScimDirectory",
    "SeededDirectory",
    "find_rosterd",
    "roster",
    "rosterd",
    "seeded",
    "start_rosterd",
]

#: Seconds to wait for the ready file (first start may create and migrate the database).
READY_TIMEOUT = float(os.environ.get("ROSTERD_READY_TIMEOUT", "60"))
#: Seconds SIGTERM may take to stop the daemon.
STOP_TIMEOUT = 20.0
_POLL_INTERVAL = 0.05


def find_rosterd(start: Path) -> Path:
    """``$ROSTERD`` if set, else ``.build/debug/rosterd`` of the first directory above ``start`` with a Package.swift."""
    configured = os.environ.get("ROSTERD")
    if configured:
        return Path(configured)
    for directory in (start, *start.parents):
        if (directory / "Package.swift").is_file():
            return directory / ".build" / "debug" / "rosterd"
    raise FileNotFoundError(f"no Package.swift above {start}; set ROSTERD=/path/to/rosterd")


@dataclass
class Daemon:
    """A running rosterd and what its ready file said."""

    process: subprocess.Popen[bytes]
    socket_path: str
    scim_url: str
    revision: int
    workdir: Path
    log_path: Path

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError as error:
            return f"(no log: {error})"
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> int:
        """SIGTERM, then wait up to STOP_TIMEOUT; returns the exit status (kills and fails if it hangs)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                pytest.fail(f"rosterd did not exit within {STOP_TIMEOUT}s of SIGTERM; log:\n{self.log_tail()}")
        return self.process.returncode


def start_rosterd(binary: Path, ready_timeout: float = READY_TIMEOUT) -> Daemon:
    """Start rosterd in a fresh temporary directory and wait for its ready file."""
    if not binary.is_file() or not os.access(binary, os.X_OK):
        pytest.fail(
            f"rosterd binary not found or not executable at {binary}: build it with "
            f"`swift build --product rosterd` in the repository root, or set ROSTERD=/path/to/rosterd",
            pytrace=False,
        )
    # Short path under /tmp: a Unix socket path must fit in 108 bytes.
    workdir = Path(tempfile.mkdtemp(prefix="rosterd-"))
    socket_path = workdir / "roster.sock"
    ready_file = workdir / "ready.json"
    log_path = workdir / "rosterd.log"
    command = [
        str(binary),
        "--data-dir", str(workdir / "data"),
        "--socket", str(socket_path),
        "--scim-listen", "127.0.0.1:0",
        "--ready-file", str(ready_file),
    ]  # fmt: skip
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + ready_timeout
    while True:
        if process.poll() is not None:
            text = log_path.read_text(errors="replace")[-4000:]
            pytest.fail(f"rosterd exited with status {process.returncode} before it was ready: {command}\n{text}")
        if ready_file.exists():
            try:
                ready = json.loads(ready_file.read_text())
                break
            except json.JSONDecodeError:
                pass  # written atomically, so this is only a non-conforming daemon mid-write; retry
        if time.monotonic() > deadline:
            process.kill()
            process.wait()
            text = log_path.read_text(errors="replace")[-4000:]
            pytest.fail(f"rosterd wrote no ready file {ready_file} within {ready_timeout}s: {command}\n{text}")
        time.sleep(_POLL_INTERVAL)
    for key in ("pid", "socket", "scim_url", "revision"):
        if key not in ready:
            process.kill()
            process.wait()
            pytest.fail(f"rosterd's ready file lacks {key!r}: {ready}")
    return Daemon(
        process=process,
        socket_path=ready["socket"],
        scim_url=ready["scim_url"].rstrip("/"),
        revision=int(ready["revision"]),
        workdir=workdir,
        log_path=log_path,
    )


class ScimDirectory:
    """A minimal SCIM 2.0 client for one directory, as an identity provider would push."""

    def __init__(self, base_url: str, token: str, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, dict[str, str], Any]:
        """Send one request; returns (status, headers with lower-case names, parsed JSON body or None)."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base_url + path, data=data, method=method)
        request.add_header("Authorization", f"Bearer {self.token}")
        request.add_header("Accept", "application/scim+json")
        if data is not None:
            request.add_header("Content-Type", "application/scim+json")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                status, headers, raw = response.status, response.headers, response.read()
        except urllib.error.HTTPError as error:
            status, headers, raw = error.code, error.headers, error.read()
        parsed = json.loads(raw) if raw else None
        return status, {name.lower(): value for name, value in headers.items()}, parsed

    def _expect(self, expected: int, method: str, path: str, body: dict[str, Any] | None) -> tuple[dict[str, str], Any]:
        status, headers, parsed = self.request(method, path, body)
        assert status == expected, f"SCIM {method} {path} answered {status}, expected {expected}: {parsed}"
        return headers, parsed

    @staticmethod
    def revision_of(headers: dict[str, str]) -> int:
        """The ``Roster-Revision`` header every accepted write carries."""
        assert "roster-revision" in headers, f"SCIM write answered without a Roster-Revision header: {headers}"
        return int(headers["roster-revision"])

    def create_user(self, user_name: str, *, active: bool = True, external_id: str | None = None) -> tuple[str, int]:
        """POST /Users; returns (SCIM id, revision)."""
        body: dict[str, Any] = {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": user_name,
            "active": active,
        }
        if external_id is not None:
            body["externalId"] = external_id
        headers, user = self._expect(201, "POST", "/Users", body)
        return user["id"], self.revision_of(headers)

    def create_group(self, display_name: str, member_ids: tuple[str, ...] = ()) -> tuple[str, int]:
        """POST /Groups; returns (SCIM id, revision)."""
        body = {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": display_name,
            "members": [{"value": member} for member in member_ids],
        }
        headers, group = self._expect(201, "POST", "/Groups", body)
        return group["id"], self.revision_of(headers)

    def set_active(self, user_id: str, active: bool) -> int:
        """PATCH the user's ``active``; returns the revision."""
        body = {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "value": {"active": active}}],
        }
        headers, _ = self._expect(200, "PATCH", f"/Users/{user_id}", body)
        return self.revision_of(headers)


@dataclass
class SeededDirectory:
    """A new directory holding: alice (active, member of admins), bob (active, in no group)."""

    directory_id: str
    scim: ScimDirectory
    alice_id: str
    bob_id: str
    admins_id: str
    #: Revision after the last seeding write: pass it as min_revision.
    revision: int
    #: Revision just before the directory was created (a Watch from here sees all of it).
    revision_before: int


@pytest.fixture(scope="session")
def rosterd(request: pytest.FixtureRequest) -> Iterator[Daemon]:
    """One rosterd for the test session; asserts it exits 0 on SIGTERM at the end."""
    daemon = start_rosterd(find_rosterd(Path(request.config.rootpath)))
    try:
        yield daemon
    finally:
        status = daemon.stop()
        log = daemon.log_tail()
        shutil.rmtree(daemon.workdir, ignore_errors=True)
        assert status == 0, f"rosterd exited with status {status} after SIGTERM; log:\n{log}"


@pytest.fixture
def roster(rosterd: Daemon) -> Iterator[RosterClient]:
    """A blocking client connected to the session's rosterd."""
    with RosterClient(rosterd.socket_path, timeout=10.0) as client:
        yield client


@pytest.fixture
def seeded(rosterd: Daemon, roster: RosterClient) -> SeededDirectory:
    """A fresh directory (unique name) seeded over SCIM; see SeededDirectory."""
    before = roster.health().revision
    created = roster.create_directory(f"live-{uuid.uuid4().hex[:12]}", provider="generic")
    scim = ScimDirectory(created.scim_base_url, created.token)
    alice_id, _ = scim.create_user("alice@example.com", external_id="ext-alice")
    bob_id, _ = scim.create_user("bob@example.com")
    admins_id, revision = scim.create_group("admins", (alice_id,))
    return SeededDirectory(
        directory_id=created.directory.id,
        scim=scim,
        alice_id=alice_id,
        bob_id=bob_id,
        admins_id=admins_id,
        revision=revision,
        revision_before=before,
    )
