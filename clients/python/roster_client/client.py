"""Blocking client for the rosterd lookup API over its Unix domain socket."""

from __future__ import annotations

import enum
import os
import socket
import time
from collections import deque
from collections.abc import Iterable, Iterator
from types import TracebackType
from typing import TypeVar

from . import _calls
from . import roster_pb2 as pb
from ._calls import Call
from .connection import Connection
from .errors import DeadlineExceeded, RosterError, Unavailable
from .frame import DEFAULT_MAX_FRAME_SIZE
from .refs import GroupLike, UserLike

__all__ = ["DEFAULT", "RosterClient", "WatchStream"]

_READ_SIZE = 64 * 1024

R = TypeVar("R")


class _Default(enum.Enum):
    TIMEOUT = "the client's default timeout"


#: Per-call ``timeout`` default: use the timeout the client was created with.
DEFAULT = _Default.TIMEOUT
Timeout = float | None | _Default


def _deadline(timeout: float | None) -> float | None:
    return None if timeout is None else time.monotonic() + timeout


def _remaining(deadline: float | None) -> float | None:
    return None if deadline is None else max(0.0, deadline - time.monotonic())


class RosterClient:
    """One connection to rosterd; blocking calls with deadlines.

    Every call takes ``timeout`` in seconds: it is sent to the server as the
    call's deadline and enforced locally too (``DeadlineExceeded``). ``None``
    means no deadline; the default is the client's ``timeout``.

    Calls are multiplexed by call id, so a ``watch`` stream can stay open while
    other calls are made: its events are queued until the iterator reads them.
    Not thread-safe: use one client per thread, or ``AsyncRosterClient``.

    Raises ``Unavailable`` if the socket cannot be reached.
    """

    def __init__(
        self,
        socket_path: str | os.PathLike[str],
        timeout: float | None = 5.0,
        *,
        max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
    ) -> None:
        self.socket_path = os.fspath(socket_path)
        self.timeout = timeout
        self._conn = Connection(max_frame_size)
        # Frames received but not yet consumed, per call in flight.
        self._frames: dict[int, deque[pb.ResponseFrame]] = {}
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(self.socket_path)
        except OSError as error:
            sock.close()
            raise Unavailable(f"cannot connect to rosterd at {self.socket_path}: {error}") from error
        self._sock = sock

    def close(self) -> None:
        """Close the connection; calls after this raise ``Unavailable``."""
        self._conn.fail(Unavailable("the client was closed"))
        self._frames.clear()
        self._sock.close()

    def __enter__(self) -> RosterClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- lookups ---------------------------------------------------------------

    def check(
        self,
        directory_id: str,
        user: UserLike | None = None,
        group: GroupLike | None = None,
        *,
        user_id: str | None = None,
        user_external_id: str | None = None,
        group_id: str | None = None,
        group_external_id: str | None = None,
        min_revision: int = 0,
        timeout: Timeout = DEFAULT,
    ) -> pb.CheckResponse:
        """Is the user a member of the group? ``user`` is a userName, ``group`` a displayName."""
        call = _calls.check(
            directory_id,
            user,
            group,
            user_id=user_id,
            user_external_id=user_external_id,
            group_id=group_id,
            group_external_id=group_external_id,
            min_revision=min_revision,
        )
        return self._unary(call, timeout)

    def check_many(
        self,
        directory_id: str,
        checks: Iterable[tuple[UserLike, GroupLike]],
        *,
        min_revision: int = 0,
        timeout: Timeout = DEFAULT,
        window: int = 128,
    ) -> list[pb.CheckResponse]:
        """Pipelined Checks: up to ``window`` calls in flight, answers matched by call id.

        Each pair is a separate Check call (unlike ``batch_check``, one call at one
        revision). ``timeout`` bounds the whole operation. Returns the responses
        in input order; if any call failed, raises the first error once every
        call has been answered, so the connection stays usable.
        """
        calls = _calls.check_many(directory_id, checks, min_revision=min_revision, window=window)
        deadline = _deadline(self._resolve(timeout))
        results: list[pb.CheckResponse | None] = [None] * len(calls)
        index_of: dict[int, int] = {}
        first_error: RosterError | None = None
        sent = answered = 0
        try:
            while answered < len(calls):
                batch = []
                while sent < len(calls) and len(index_of) < window:
                    call_id, data = calls[sent].start(self._conn, _remaining(deadline))
                    self._frames[call_id] = deque()
                    index_of[call_id] = sent
                    batch.append(data)
                    sent += 1
                if batch:
                    self._send(b"".join(batch), deadline)
                for call_id in self._read(deadline, "check_many"):
                    index = index_of.pop(call_id, None)
                    if index is None:
                        continue  # a frame for another call, e.g. an open watch
                    frame = self._frames.pop(call_id).popleft()
                    answered += 1
                    try:
                        results[index] = calls[index].result(frame)
                    except RosterError as error:
                        first_error = first_error or error
        except DeadlineExceeded:
            for call_id in index_of:
                self._conn.abandon(call_id)
                self._frames.pop(call_id, None)
            raise
        if first_error is not None:
            raise first_error
        return results  # type: ignore[return-value]

    def batch_check(
        self,
        directory_id: str,
        checks: Iterable[tuple[UserLike, GroupLike]],
        *,
        min_revision: int = 0,
        timeout: Timeout = DEFAULT,
    ) -> pb.BatchCheckResponse:
        """Many checks in one call, answered at one revision; per-item errors in ``results[i].error``."""
        return self._unary(_calls.batch_check(directory_id, checks, min_revision=min_revision), timeout)

    def list_user_groups(
        self,
        directory_id: str,
        user: UserLike | None = None,
        *,
        user_id: str | None = None,
        user_external_id: str | None = None,
        min_revision: int = 0,
        page_size: int = 0,
        page_token: str = "",
        timeout: Timeout = DEFAULT,
    ) -> pb.ListUserGroupsResponse:
        """One page of the groups a user belongs to; follow ``next_page_token`` for more."""
        call = _calls.list_user_groups(
            directory_id,
            user,
            user_id=user_id,
            user_external_id=user_external_id,
            min_revision=min_revision,
            page_size=page_size,
            page_token=page_token,
        )
        return self._unary(call, timeout)

    def list_group_members(
        self,
        directory_id: str,
        group: GroupLike | None = None,
        *,
        group_id: str | None = None,
        group_external_id: str | None = None,
        min_revision: int = 0,
        page_size: int = 0,
        page_token: str = "",
        timeout: Timeout = DEFAULT,
    ) -> pb.ListGroupMembersResponse:
        """One page of a group's members; follow ``next_page_token`` for more."""
        call = _calls.list_group_members(
            directory_id,
            group,
            group_id=group_id,
            group_external_id=group_external_id,
            min_revision=min_revision,
            page_size=page_size,
            page_token=page_token,
        )
        return self._unary(call, timeout)

    def get_user(
        self,
        directory_id: str,
        user: UserLike | None = None,
        *,
        user_id: str | None = None,
        user_external_id: str | None = None,
        min_revision: int = 0,
        timeout: Timeout = DEFAULT,
    ) -> pb.GetUserResponse:
        """One user, with its group ids and SCIM resource; ``NotFound`` if unknown."""
        call = _calls.get_user(
            directory_id, user, user_id=user_id, user_external_id=user_external_id, min_revision=min_revision
        )
        return self._unary(call, timeout)

    def get_group(
        self,
        directory_id: str,
        group: GroupLike | None = None,
        *,
        group_id: str | None = None,
        group_external_id: str | None = None,
        min_revision: int = 0,
        timeout: Timeout = DEFAULT,
    ) -> pb.GetGroupResponse:
        """One group with its SCIM resource; ``NotFound`` if unknown."""
        call = _calls.get_group(
            directory_id, group, group_id=group_id, group_external_id=group_external_id, min_revision=min_revision
        )
        return self._unary(call, timeout)

    def watch(self, from_revision: int = 0, directory_id: str = "", *, timeout: float | None = None) -> WatchStream:
        """Stream the events with revision > ``from_revision`` (history, then live).

        Iterate the returned stream; leave it with ``cancel()`` or a ``with``
        block. ``timeout`` (default: none) bounds the whole stream.
        """
        call = _calls.watch(from_revision, directory_id)
        deadline = _deadline(timeout)
        call_id = self._start(call, timeout, deadline)
        return WatchStream(self, call_id, deadline)

    def health(self, *, timeout: Timeout = DEFAULT) -> pb.HealthResponse:
        return self._unary(_calls.health(), timeout)

    def stats(self, *, timeout: Timeout = DEFAULT) -> pb.StatsResponse:
        return self._unary(_calls.stats(), timeout)

    # -- admin (the peer uid must be in rosterd's admin allow-list) --------------

    def create_directory(
        self, name: str, provider: str = "generic", policy: str = "", *, timeout: Timeout = DEFAULT
    ) -> pb.CreateDirectoryResponse:
        """Register a directory; the response holds its SCIM base URL and its only copy of the token."""
        return self._unary(_calls.create_directory(name, provider, policy), timeout)

    def list_directories(self, *, timeout: Timeout = DEFAULT) -> pb.ListDirectoriesResponse:
        return self._unary(_calls.list_directories(), timeout)

    def rotate_token(self, directory_id: str, *, timeout: Timeout = DEFAULT) -> pb.RotateTokenResponse:
        return self._unary(_calls.rotate_token(directory_id), timeout)

    def delete_directory(self, directory_id: str, *, timeout: Timeout = DEFAULT) -> pb.DeleteDirectoryResponse:
        return self._unary(_calls.delete_directory(directory_id), timeout)

    def delete_group(
        self,
        directory_id: str,
        group: GroupLike | None = None,
        *,
        group_id: str | None = None,
        group_external_id: str | None = None,
        timeout: Timeout = DEFAULT,
    ) -> pb.DeleteGroupResponse:
        call = _calls.delete_group(directory_id, group, group_id=group_id, group_external_id=group_external_id)
        return self._unary(call, timeout)

    def verify(self, *, timeout: Timeout = DEFAULT) -> pb.VerifyResponse:
        return self._unary(_calls.verify(), timeout)

    def backup(self, path: str, *, timeout: Timeout = DEFAULT) -> pb.BackupResponse:
        """Write a consistent database copy to ``path`` on the daemon's host."""
        return self._unary(_calls.backup(path), timeout)

    def audit(
        self, directory_id: str = "", *, since_unix_ms: int = 0, limit: int = 0, timeout: Timeout = DEFAULT
    ) -> pb.AuditResponse:
        return self._unary(_calls.audit(directory_id, since_unix_ms=since_unix_ms, limit=limit), timeout)

    # -- machinery -------------------------------------------------------------

    def _resolve(self, timeout: Timeout) -> float | None:
        return self.timeout if timeout is DEFAULT else timeout  # type: ignore[return-value]

    def _unary(self, call: Call[R], timeout: Timeout) -> R:
        resolved = self._resolve(timeout)
        deadline = _deadline(resolved)
        call_id = self._start(call, resolved, deadline)
        return call.result(self._wait(call_id, deadline, call.method))

    def _start(self, call: Call[R], timeout: float | None, deadline: float | None) -> int:
        call_id, data = call.start(self._conn, timeout)
        self._frames[call_id] = deque()
        self._send(data, deadline)
        return call_id

    def _wait(self, call_id: int, deadline: float | None, what: str) -> pb.ResponseFrame:
        """The next frame of ``call_id``, reading the socket until it arrives."""
        queue = self._frames[call_id]
        while not queue:
            try:
                self._read(deadline, what)
            except DeadlineExceeded:
                self._conn.abandon(call_id)
                del self._frames[call_id]
                raise
        frame = queue.popleft()
        if not queue and call_id not in self._conn.in_flight:
            del self._frames[call_id]
        return frame

    def _cancel(self, call_id: int) -> None:
        self._frames.pop(call_id, None)
        self._send(self._conn.cancel(call_id), _deadline(self.timeout))

    def _send(self, data: bytes, deadline: float | None) -> None:
        if self._conn.error is not None:
            raise self._conn.error
        self._sock.settimeout(_remaining(deadline))
        try:
            self._sock.sendall(data)
        except TimeoutError as error:
            # Part of a frame may have been written: the stream is no longer framed.
            self._conn.fail(Unavailable("connection abandoned after a write timed out mid-frame"))
            raise DeadlineExceeded("deadline exceeded while sending to rosterd") from error
        except OSError as error:
            raise self._conn.fail(Unavailable(f"writing to rosterd failed: {error}")) from error

    def _read(self, deadline: float | None, what: str) -> list[int]:
        """Read once from the socket; return the call ids that received frames."""
        if self._conn.error is not None:
            raise self._conn.error
        remaining = _remaining(deadline)
        if remaining == 0.0:
            raise DeadlineExceeded(f"{what}: deadline exceeded waiting for rosterd")
        self._sock.settimeout(remaining)
        try:
            data = self._sock.recv(_READ_SIZE)
        except TimeoutError as error:
            raise DeadlineExceeded(f"{what}: deadline exceeded waiting for rosterd") from error
        except OSError as error:
            raise self._conn.fail(Unavailable(f"reading from rosterd failed: {error}")) from error
        if not data:
            raise self._conn.receive_eof()
        received = []
        for frame in self._conn.receive_data(data):
            self._frames[frame.call_id].append(frame)
            received.append(frame.call_id)
        return received


class WatchStream(Iterator[pb.WatchEvent]):
    """Iterator over the events of one Watch call.

    Ends (StopIteration) when the server ends the stream with OK or after
    ``cancel()``; raises the typed error when the server ends it with another
    status (e.g. ``Unavailable`` when rosterd shuts down). To resume after an
    error, watch again from the last revision whose events were all processed
    (docs/PROTOCOL.md, "Watch").
    """

    def __init__(self, client: RosterClient, call_id: int, deadline: float | None) -> None:
        self._client = client
        self.call_id = call_id
        self._deadline = deadline
        self._done = False

    def __next__(self) -> pb.WatchEvent:
        if self._done:
            raise StopIteration
        try:
            frame = self._client._wait(self.call_id, self._deadline, "watch")
        except DeadlineExceeded:
            self._done = True
            self._client._cancel(self.call_id)
            raise
        except RosterError:
            self._done = True
            raise
        try:
            event = _calls.watch_event(frame)
        except RosterError:
            self._done = True
            if frame.status.code == pb.OK:  # a frame without an event: the stream is still open
                self._client._cancel(self.call_id)
            raise
        if event is None:
            self._done = True
            raise StopIteration
        return event

    def cancel(self) -> None:
        """End the stream: sends Cancel; events already in flight are dropped."""
        if not self._done:
            self._done = True
            self._client._cancel(self.call_id)

    def __enter__(self) -> WatchStream:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._client._conn.error is None:
            self.cancel()
