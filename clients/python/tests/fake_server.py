"""A scripted stand-in for rosterd on a real Unix socket, to test the clients'
I/O (pipelining, out-of-order answers, deadlines, streams) without the daemon.
Every wait is bounded by TIMEOUT so a broken client fails instead of hanging."""

from __future__ import annotations

import socket
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from roster_client import roster_pb2 as pb
from roster_client.frame import FrameDecoder, encode_frame

TIMEOUT = 5.0


class FakeConnection:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.sock.settimeout(TIMEOUT)
        self._decoder = FrameDecoder(pb.RequestFrame)
        self._pending: list[pb.RequestFrame] = []

    def read_available(self) -> list[pb.RequestFrame]:
        """At least one request: whatever one recv() completes (waiting for the first)."""
        while not self._pending:
            data = self.sock.recv(65536)
            if not data:
                raise EOFError("client closed the connection")
            self._pending += self._decoder.feed(data)
        ready, self._pending = self._pending, []
        return ready

    def read(self, count: int) -> list[pb.RequestFrame]:
        """Exactly ``count`` requests."""
        out: list[pb.RequestFrame] = []
        while len(out) < count:
            if not self._pending:
                data = self.sock.recv(65536)
                if not data:
                    raise EOFError(f"client closed after {len(out)} of {count} requests")
                self._pending += self._decoder.feed(data)
            take = min(count - len(out), len(self._pending))
            out += self._pending[:take]
            self._pending = self._pending[take:]
        return out

    def send(self, *frames: pb.ResponseFrame) -> None:
        self.sock.sendall(b"".join(encode_frame(f) for f in frames))


class FakeServer:
    """Accepts one connection and runs ``script`` on it in a thread; re-raises its failure on ``join``."""

    def __init__(self, script: Callable[[FakeConnection], None]) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="roster-fake-")
        self.path = str(Path(self._dir.name) / "fake.sock")
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(self.path)
        self._listener.listen(1)
        self._listener.settimeout(TIMEOUT)
        self._script = script
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            sock, _ = self._listener.accept()
            with sock:
                self._script(FakeConnection(sock))
        except BaseException as error:  # reported to the test by join()
            self._error = error

    def join(self) -> None:
        self._thread.join(TIMEOUT * 2)
        assert not self._thread.is_alive(), "fake server script did not finish"
        self._listener.close()
        self._dir.cleanup()
        if self._error is not None:
            raise self._error


def answer_check(request: pb.RequestFrame) -> pb.ResponseFrame:
    """allowed iff the userName starts with 'member', revision echoes min_revision."""
    check = request.check
    allowed = check.user.user_name.startswith("member")
    return pb.ResponseFrame(
        call_id=request.call_id,
        check=pb.CheckResponse(
            allowed=allowed, reason=pb.MEMBER if allowed else pb.NOT_MEMBER, revision=check.min_revision
        ),
    )
