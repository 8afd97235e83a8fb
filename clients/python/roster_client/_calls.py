"""The API's calls without I/O: what the blocking and the asyncio client share.

One function per RPC takes the arguments of the client method of the same
name (but ``timeout``, which only the clients handle), checks them and returns
a ``Call``: the RequestFrame ``method`` field to set and its request message.
``Call.result`` unpacks the answer to a unary call, ``watch_event`` a frame of
a Watch stream. The clients only send the bytes, read the frames and wait.

The defaults of the arguments live in the client methods, the public API;
these functions take every argument explicitly.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar, cast

from google.protobuf.message import Message

from . import roster_pb2 as pb
from .connection import Connection, unwrap
from .errors import Internal, error_from_status
from .refs import GroupLike, UserLike, check_items, group_ref, user_ref

R = TypeVar("R")


@dataclass(frozen=True)
class Call(Generic[R]):
    """One call, ready to start: the RequestFrame ``method`` field and its request.

    ``R`` is the type of its result: the message a unary call answers with,
    the event type of a stream.
    """

    method: str
    request: Message
    stream: bool = False

    def start(self, conn: Connection, timeout: float | None) -> tuple[int, bytes]:
        """Allocate its call id on ``conn``; return it with the frame bytes to send."""
        return conn.start_call(self.method, self.request, timeout, stream=self.stream)

    def result(self, frame: pb.ResponseFrame) -> R:
        """The answer of a unary call, or the typed error its status names."""
        return cast(R, unwrap(frame, self.method))


def watch_event(frame: pb.ResponseFrame) -> pb.WatchEvent | None:
    """The event one frame of a Watch stream carries; None for the frame that ends the stream.

    Raises the typed error of a non-OK status, which ends the stream, or
    ``Internal`` for an OK frame without an event, which leaves the stream
    open on the server: the caller cancels it then.
    """
    if frame.status.code != pb.OK:
        raise error_from_status(frame.status, frame.call_id)
    if frame.end_of_stream:
        return None
    if frame.WhichOneof("result") != "event":
        raise Internal(f"watch stream sent result {frame.WhichOneof('result')!r}", call_id=frame.call_id)
    return frame.event


# -- lookups -------------------------------------------------------------------


def check(
    directory_id: str,
    user: UserLike | None,
    group: GroupLike | None,
    *,
    user_id: str | None,
    user_external_id: str | None,
    group_id: str | None,
    group_external_id: str | None,
    min_revision: int,
) -> Call[pb.CheckResponse]:
    request = pb.CheckRequest(
        directory_id=directory_id,
        user=user_ref(user, user_id=user_id, user_external_id=user_external_id),
        group=group_ref(group, group_id=group_id, group_external_id=group_external_id),
        min_revision=min_revision,
    )
    return Call("check", request)


def check_many(
    directory_id: str, checks: Iterable[tuple[UserLike, GroupLike]], *, min_revision: int, window: int
) -> list[Call[pb.CheckResponse]]:
    """One Check call per (user, group) pair, for ``check_many``."""
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    requests = (
        pb.CheckRequest(directory_id=directory_id, user=item.user, group=item.group, min_revision=min_revision)
        for item in check_items(checks)
    )
    return [Call("check", request) for request in requests]


def batch_check(
    directory_id: str, checks: Iterable[tuple[UserLike, GroupLike]], *, min_revision: int
) -> Call[pb.BatchCheckResponse]:
    request = pb.BatchCheckRequest(directory_id=directory_id, checks=check_items(checks), min_revision=min_revision)
    return Call("batch_check", request)


def list_user_groups(
    directory_id: str,
    user: UserLike | None,
    *,
    user_id: str | None,
    user_external_id: str | None,
    min_revision: int,
    page_size: int,
    page_token: str,
) -> Call[pb.ListUserGroupsResponse]:
    request = pb.ListUserGroupsRequest(
        directory_id=directory_id,
        user=user_ref(user, user_id=user_id, user_external_id=user_external_id),
        min_revision=min_revision,
        page_size=page_size,
        page_token=page_token,
    )
    return Call("list_user_groups", request)


def list_group_members(
    directory_id: str,
    group: GroupLike | None,
    *,
    group_id: str | None,
    group_external_id: str | None,
    min_revision: int,
    page_size: int,
    page_token: str,
) -> Call[pb.ListGroupMembersResponse]:
    request = pb.ListGroupMembersRequest(
        directory_id=directory_id,
        group=group_ref(group, group_id=group_id, group_external_id=group_external_id),
        min_revision=min_revision,
        page_size=page_size,
        page_token=page_token,
    )
    return Call("list_group_members", request)


def get_user(
    directory_id: str,
    user: UserLike | None,
    *,
    user_id: str | None,
    user_external_id: str | None,
    min_revision: int,
) -> Call[pb.GetUserResponse]:
    request = pb.GetUserRequest(
        directory_id=directory_id,
        user=user_ref(user, user_id=user_id, user_external_id=user_external_id),
        min_revision=min_revision,
    )
    return Call("get_user", request)


def get_group(
    directory_id: str,
    group: GroupLike | None,
    *,
    group_id: str | None,
    group_external_id: str | None,
    min_revision: int,
) -> Call[pb.GetGroupResponse]:
    request = pb.GetGroupRequest(
        directory_id=directory_id,
        group=group_ref(group, group_id=group_id, group_external_id=group_external_id),
        min_revision=min_revision,
    )
    return Call("get_group", request)


def watch(from_revision: int, directory_id: str) -> Call[pb.WatchEvent]:
    """A Watch stream; read its frames with ``watch_event``."""
    return Call("watch", pb.WatchRequest(from_revision=from_revision, directory_id=directory_id), stream=True)


def health() -> Call[pb.HealthResponse]:
    return Call("health", pb.HealthRequest())


def stats() -> Call[pb.StatsResponse]:
    return Call("stats", pb.StatsRequest())


# -- admin ---------------------------------------------------------------------


def create_directory(name: str, provider: str, policy: str) -> Call[pb.CreateDirectoryResponse]:
    return Call("create_directory", pb.CreateDirectoryRequest(name=name, provider=provider, policy=policy))


def list_directories() -> Call[pb.ListDirectoriesResponse]:
    return Call("list_directories", pb.ListDirectoriesRequest())


def rotate_token(directory_id: str) -> Call[pb.RotateTokenResponse]:
    return Call("rotate_token", pb.RotateTokenRequest(directory_id=directory_id))


def delete_directory(directory_id: str) -> Call[pb.DeleteDirectoryResponse]:
    return Call("delete_directory", pb.DeleteDirectoryRequest(directory_id=directory_id))


def delete_group(
    directory_id: str, group: GroupLike | None, *, group_id: str | None, group_external_id: str | None
) -> Call[pb.DeleteGroupResponse]:
    request = pb.DeleteGroupRequest(
        directory_id=directory_id, group=group_ref(group, group_id=group_id, group_external_id=group_external_id)
    )
    return Call("delete_group", request)


def verify() -> Call[pb.VerifyResponse]:
    return Call("verify", pb.VerifyRequest())


def backup(path: str) -> Call[pb.BackupResponse]:
    return Call("backup", pb.BackupRequest(path=path))


def audit(directory_id: str, *, since_unix_ms: int, limit: int) -> Call[pb.AuditResponse]:
    return Call("audit", pb.AuditRequest(directory_id=directory_id, since_unix_ms=since_unix_ms, limit=limit))
