"""asyncio client: many concurrent calls pipelined over one connection.

One reader task owns the socket's read side and hands each frame to the call
waiting for it (a Future for unary calls, a Queue for Watch), by call id.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterable
from types import TracebackType
from typing import TypeVar

from . import _calls
from . import roster_pb2 as pb
from ._calls import Call
from .client import DEFAULT, Timeout
from .connection import Connection
from .errors import DeadlineExceeded, Internal, RosterError, Unavailable
from .frame import DEFAULT_MAX_FRAME_SIZE
from .refs import GroupLike, UserLike

__all__ = ["AsyncRosterClient", "AsyncWatchStream"]

_READ_SIZE = 64 * 1024

R = TypeVar("R")


class AsyncRosterClient:
    """One connection to rosterd for asyncio code; create it with ``await AsyncRosterClient.connect(path)``.

    Calls may run concurrently from many tasks: each gets its own call id and
    its frames are written whole, so they pipeline on the one connection and
    answers are matched by call id whatever their order. ``timeout`` works as
    in ``RosterClient``.
    """

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        timeout: float | None,
        max_frame_size: int,
    ) -> None:
        self.timeout = timeout
        self._reader = reader
        self._writer = writer
        self._conn = Connection(max_frame_size)
        self._calls: dict[int, asyncio.Future[pb.ResponseFrame]] = {}
        self._streams: dict[int, asyncio.Queue[pb.ResponseFrame | RosterError]] = {}
        self._reader_task = asyncio.get_running_loop().create_task(self._read_loop(), name="roster-client-reader")

    @classmethod
    async def connect(
        cls,
        socket_path: str | os.PathLike[str],
        timeout: float | None = 5.0,
        *,
        max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
    ) -> AsyncRosterClient:
        """Connect to rosterd; raises ``Unavailable`` if the socket cannot be reached."""
        path = os.fspath(socket_path)
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_unix_connection(path, limit=_READ_SIZE), timeout)
        except (OSError, asyncio.TimeoutError) as error:
            raise Unavailable(f"cannot connect to rosterd at {path}: {error!r}") from error
        return cls(reader, writer, timeout, max_frame_size)

    async def close(self) -> None:
        """Close the connection; waiting calls fail with ``Unavailable``."""
        self._fail_all(self._conn.fail(Unavailable("the client was closed")))
        self._reader_task.cancel()
        self._writer.close()
        try:
            await self._writer.wait_closed()
        except OSError:
            pass  # the peer may already have gone; closing is all that was asked
        try:
            await self._reader_task
        except asyncio.CancelledError:
            pass

    async def __aenter__(self) -> AsyncRosterClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    # -- lookups ---------------------------------------------------------------

    async def check(
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
        return await self._unary(call, timeout)

    async def check_many(
        self,
        directory_id: str,
        checks: Iterable[tuple[UserLike, GroupLike]],
        *,
        min_revision: int = 0,
        timeout: Timeout = DEFAULT,
        window: int = 128,
    ) -> list[pb.CheckResponse]:
        """Pipelined Checks, at most ``window`` in flight; responses in input order.

        Raises the first error once every call has finished (``timeout`` applies
        to each call).
        """
        calls = _calls.check_many(directory_id, checks, min_revision=min_revision, window=window)
        slots = asyncio.Semaphore(window)

        async def one(call: Call[pb.CheckResponse]) -> pb.CheckResponse:
            async with slots:
                return await self._unary(call, timeout)

        outcomes = await asyncio.gather(*(one(call) for call in calls), return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
        return outcomes  # type: ignore[return-value]

    async def batch_check(
        self,
        directory_id: str,
        checks: Iterable[tuple[UserLike, GroupLike]],
        *,
        min_revision: int = 0,
        timeout: Timeout = DEFAULT,
    ) -> pb.BatchCheckResponse:
        """Many checks in one call, answered at one revision; per-item errors in ``results[i].error``."""
        return await self._unary(_calls.batch_check(directory_id, checks, min_revision=min_revision), timeout)

    async def list_user_groups(
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
        call = _calls.list_user_groups(
            directory_id,
            user,
            user_id=user_id,
            user_external_id=user_external_id,
            min_revision=min_revision,
            page_size=page_size,
            page_token=page_token,
        )
        return await self._unary(call, timeout)

    async def list_group_members(
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
        call = _calls.list_group_members(
            directory_id,
            group,
            group_id=group_id,
            group_external_id=group_external_id,
            min_revision=min_revision,
            page_size=page_size,
            page_token=page_token,
        )
        return await self._unary(call, timeout)

    async def get_user(
        self,
        directory_id: str,
        user: UserLike | None = None,
        *,
        user_id: str | None = None,
        user_external_id: str | None = None,
        min_revision: int = 0,
        timeout: Timeout = DEFAULT,
    ) -> pb.GetUserResponse:
        call = _calls.get_user(
            directory_id, user, user_id=user_id, user_external_id=user_external_id, min_revision=min_revision
        )
        return await self._unary(call, timeout)

    async def get_group(
        self,
        directory_id: str,
        group: GroupLike | None = None,
        *,
        group_id: str | None = None,
        group_external_id: str | None = None,
        min_revision: int = 0,
        timeout: Timeout = DEFAULT,
    ) -> pb.GetGroupResponse:
        call = _calls.get_group(
            directory_id, group, group_id=group_id, group_external_id=group_external_id, min_revision=min_revision
        )
        return await self._unary(call, timeout)

    async def watch(
        self, from_revision: int = 0, directory_id: str = "", *, timeout: float | None = None
    ) -> AsyncWatchStream:
        """Start a Watch; iterate the result with ``async for``, end it with ``cancel()``."""
        call_id, data = _calls.watch(from_revision, directory_id).start(self._conn, timeout)
        queue: asyncio.Queue[pb.ResponseFrame | RosterError] = asyncio.Queue()
        self._streams[call_id] = queue
        await self._send(data)
        return AsyncWatchStream(self, call_id, queue, timeout)

    async def health(self, *, timeout: Timeout = DEFAULT) -> pb.HealthResponse:
        return await self._unary(_calls.health(), timeout)

    async def stats(self, *, timeout: Timeout = DEFAULT) -> pb.StatsResponse:
        return await self._unary(_calls.stats(), timeout)

    # -- admin -----------------------------------------------------------------

    async def create_directory(
        self, name: str, provider: str = "generic", policy: str = "", *, timeout: Timeout = DEFAULT
    ) -> pb.CreateDirectoryResponse:
        return await self._unary(_calls.create_directory(name, provider, policy), timeout)

    async def list_directories(self, *, timeout: Timeout = DEFAULT) -> pb.ListDirectoriesResponse:
        return await self._unary(_calls.list_directories(), timeout)

    async def rotate_token(self, directory_id: str, *, timeout: Timeout = DEFAULT) -> pb.RotateTokenResponse:
        return await self._unary(_calls.rotate_token(directory_id), timeout)

    async def delete_directory(self, directory_id: str, *, timeout: Timeout = DEFAULT) -> pb.DeleteDirectoryResponse:
        return await self._unary(_calls.delete_directory(directory_id), timeout)

    async def delete_group(
        self,
        directory_id: str,
        group: GroupLike | None = None,
        *,
        group_id: str | None = None,
        group_external_id: str | None = None,
        timeout: Timeout = DEFAULT,
    ) -> pb.DeleteGroupResponse:
        call = _calls.delete_group(directory_id, group, group_id=group_id, group_external_id=group_external_id)
        return await self._unary(call, timeout)

    async def verify(self, *, timeout: Timeout = DEFAULT) -> pb.VerifyResponse:
        return await self._unary(_calls.verify(), timeout)

    async def backup(self, path: str, *, timeout: Timeout = DEFAULT) -> pb.BackupResponse:
        return await self._unary(_calls.backup(path), timeout)

    async def audit(
        self, directory_id: str = "", *, since_unix_ms: int = 0, limit: int = 0, timeout: Timeout = DEFAULT
    ) -> pb.AuditResponse:
        return await self._unary(_calls.audit(directory_id, since_unix_ms=since_unix_ms, limit=limit), timeout)

    # -- machinery -------------------------------------------------------------

    async def _unary(self, call: Call[R], timeout: Timeout) -> R:
        resolved = self.timeout if timeout is DEFAULT else timeout
        call_id, data = call.start(self._conn, resolved)
        future: asyncio.Future[pb.ResponseFrame] = asyncio.get_running_loop().create_future()
        self._calls[call_id] = future
        try:
            await self._send(data)
            frame = await asyncio.wait_for(future, resolved)  # type: ignore[arg-type]
        except asyncio.TimeoutError:
            raise DeadlineExceeded(f"{call.method}: deadline exceeded waiting for rosterd", call_id=call_id) from None
        finally:
            # Answered, timed out or cancelled: in the last two cases a late frame is dropped.
            if self._calls.pop(call_id, None) is not None:
                self._conn.abandon(call_id)
        return call.result(frame)

    async def _send(self, data: bytes) -> None:
        if self._conn.error is not None:
            raise self._conn.error
        self._writer.write(data)
        try:
            await self._writer.drain()
        except OSError as error:
            raise self._fail_all(self._conn.fail(Unavailable(f"writing to rosterd failed: {error}"))) from error

    async def _cancel(self, call_id: int) -> None:
        self._streams.pop(call_id, None)
        if self._conn.error is None:
            await self._send(self._conn.cancel(call_id))

    async def _read_loop(self) -> None:
        try:
            while True:
                try:
                    data = await self._reader.read(_READ_SIZE)
                except OSError as error:
                    self._fail_all(self._conn.fail(Unavailable(f"reading from rosterd failed: {error}")))
                    return
                if not data:
                    self._fail_all(self._conn.receive_eof())
                    return
                try:
                    frames = self._conn.receive_data(data)
                except RosterError as error:
                    self._fail_all(error)
                    self._writer.close()
                    return
                for frame in frames:
                    self._dispatch(frame)
        except Exception as error:  # a bug here must not leave every caller hanging
            self._fail_all(self._conn.fail(Internal(f"roster client reader failed: {error!r}")))
            raise

    def _dispatch(self, frame: pb.ResponseFrame) -> None:
        # The Connection only returns frames of calls in flight, so each has a waiter.
        future = self._calls.pop(frame.call_id, None)
        if future is not None:
            if not future.done():
                future.set_result(frame)
            return
        queue = self._streams.get(frame.call_id)
        if queue is not None:
            queue.put_nowait(frame)
            if frame.call_id not in self._conn.in_flight:
                del self._streams[frame.call_id]

    def _fail_all(self, error: RosterError) -> RosterError:
        for future in self._calls.values():
            if not future.done():
                future.set_exception(error)
        self._calls.clear()
        for queue in self._streams.values():
            queue.put_nowait(error)
        self._streams.clear()
        return error


class AsyncWatchStream(AsyncIterator[pb.WatchEvent]):
    """Async iterator over one Watch call's events; semantics as ``WatchStream``."""

    def __init__(
        self,
        client: AsyncRosterClient,
        call_id: int,
        queue: asyncio.Queue[pb.ResponseFrame | RosterError],
        timeout: float | None,
    ) -> None:
        self._client = client
        self.call_id = call_id
        self._queue = queue
        self._deadline = None if timeout is None else asyncio.get_running_loop().time() + timeout
        self._done = False

    def __aiter__(self) -> AsyncWatchStream:
        return self

    async def __anext__(self) -> pb.WatchEvent:
        if self._done:
            raise StopAsyncIteration
        remaining = None if self._deadline is None else max(0.0, self._deadline - asyncio.get_running_loop().time())
        try:
            item = await asyncio.wait_for(self._queue.get(), remaining)
        except asyncio.TimeoutError:
            await self.cancel()
            raise DeadlineExceeded("watch: deadline exceeded", call_id=self.call_id) from None
        if isinstance(item, RosterError):
            self._done = True
            raise item
        try:
            event = _calls.watch_event(item)
        except RosterError:
            if item.status.code == pb.OK:  # a frame without an event: the stream is still open
                await self.cancel()
            self._done = True
            raise
        if event is None:
            self._done = True
            raise StopAsyncIteration
        return event

    async def cancel(self) -> None:
        """End the stream: sends Cancel; events already in flight are dropped."""
        if not self._done:
            self._done = True
            await self._client._cancel(self.call_id)

    async def __aenter__(self) -> AsyncWatchStream:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.cancel()
