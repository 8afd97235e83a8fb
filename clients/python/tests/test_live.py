"""Live tests: a real rosterd (started by roster_client.testing), real SCIM over HTTP,
real frames over the Unix socket. They FAIL when the rosterd binary is missing:
build it (`swift build --product rosterd`) or point ROSTERD at it."""

from __future__ import annotations

import asyncio
import json
import socket
import time
import uuid
from pathlib import Path

import pytest

from roster_client import (
    AsyncRosterClient,
    DeadlineExceeded,
    NotFound,
    RosterClient,
    roster_pb2 as pb,
)
from roster_client.frame import FrameDecoder, encode_frame
from roster_client.testing import Daemon, ScimDirectory, SeededDirectory

pytestmark = pytest.mark.live

#: Bound on any single live wait, so a misbehaving daemon fails a test instead of hanging it.
WAIT = 10.0


def test_health_and_stats(roster: RosterClient, rosterd: Daemon) -> None:
    health = roster.health()
    assert health.status == "SERVING"
    assert health.revision >= rosterd.revision
    stats = roster.stats()
    assert stats.version
    assert stats.connections >= 1
    assert stats.revision >= health.revision


def test_membership_then_suspension_read_your_writes(roster: RosterClient, seeded: SeededDirectory) -> None:
    d = seeded.directory_id
    member = roster.check(d, "alice@example.com", "admins", min_revision=seeded.revision)
    assert (member.allowed, member.reason) == (True, pb.MEMBER)
    assert member.revision >= seeded.revision
    assert roster.check(d, user_id=seeded.alice_id, group_id=seeded.admins_id).allowed
    assert roster.check(d, "ALICE@example.com", "admins").allowed, "userName is case-insensitive"
    assert roster.check(d, user_external_id="ext-alice", group_id=seeded.admins_id).allowed
    assert roster.check(d, "bob@example.com", "admins").reason == pb.NOT_MEMBER
    assert roster.check(d, "nobody@example.com", "admins").reason == pb.USER_UNKNOWN
    assert roster.check(d, "alice@example.com", "no-such-group").reason == pb.GROUP_UNKNOWN

    suspended_at = seeded.scim.set_active(seeded.alice_id, False)
    assert suspended_at > seeded.revision
    denied = roster.check(d, "alice@example.com", "admins", min_revision=suspended_at)
    assert (denied.allowed, denied.reason) == (False, pb.USER_SUSPENDED)
    assert denied.revision >= suspended_at
    # Suspension removed the membership (normalization rule 2), and reactivation restores nothing (rule 3).
    assert list(roster.list_group_members(d, "admins", min_revision=suspended_at).members) == []
    reactivated_at = seeded.scim.set_active(seeded.alice_id, True)
    after = roster.check(d, "alice@example.com", "admins", min_revision=reactivated_at)
    assert (after.allowed, after.reason) == (False, pb.NOT_MEMBER)


def test_lists_and_details(roster: RosterClient, seeded: SeededDirectory) -> None:
    d, rev = seeded.directory_id, seeded.revision
    groups = roster.list_user_groups(d, "alice@example.com", min_revision=rev)
    assert [(g.id, g.display_name, g.member_count) for g in groups.groups] == [(seeded.admins_id, "admins", 1)]
    assert groups.next_page_token == ""
    members = roster.list_group_members(d, group_id=seeded.admins_id, min_revision=rev)
    assert [(m.id, m.user_name, m.state) for m in members.members] == [
        (seeded.alice_id, "alice@example.com", pb.ACTIVE)
    ]
    user = roster.get_user(d, user_id=seeded.alice_id).user
    assert (user.user_name, user.external_id, user.state) == ("alice@example.com", "ext-alice", pb.ACTIVE)
    assert list(user.group_ids) == [seeded.admins_id]
    assert json.loads(user.resource_json)["userName"] == "alice@example.com"
    assert user.version >= 1
    group = roster.get_group(d, "admins").group
    assert (group.id, group.member_count) == (seeded.admins_id, 1)
    assert json.loads(group.resource_json)["displayName"] == "admins"
    with pytest.raises(NotFound):
        roster.get_user(d, "nobody@example.com")


def test_pagination_walks_every_member_once(roster: RosterClient, seeded: SeededDirectory) -> None:
    ids = [seeded.scim.create_user(f"user{i}@example.com")[0] for i in range(7)]
    _, revision = seeded.scim.create_group("big", tuple(ids))
    seen: list[str] = []
    token = ""
    for _ in range(10):  # 7 members at 3 per page: 3 pages
        page = roster.list_group_members(seeded.directory_id, "big", min_revision=revision, page_size=3, page_token=token)
        assert len(page.members) <= 3
        seen += [m.id for m in page.members]
        token = page.next_page_token
        if not token:
            break
    assert sorted(seen) == sorted(ids)


def test_check_many_pipelined(roster: RosterClient, seeded: SeededDirectory) -> None:
    pairs = [("alice@example.com" if i % 2 == 0 else "bob@example.com", "admins") for i in range(1000)]
    results = roster.check_many(seeded.directory_id, pairs, min_revision=seeded.revision, window=100)
    assert [r.allowed for r in results] == [i % 2 == 0 for i in range(1000)]


def test_batch_check_reports_ambiguous_display_name_per_item(roster: RosterClient, seeded: SeededDirectory) -> None:
    seeded.scim.create_group("dup", (seeded.alice_id,))
    _, revision = seeded.scim.create_group("dup", ())
    response = roster.batch_check(
        seeded.directory_id,
        [("alice@example.com", "admins"), ("bob@example.com", "admins"), ("alice@example.com", "dup")],
        min_revision=revision,
    )
    assert response.revision >= revision
    first, second, third = response.results
    assert (first.allowed, first.reason, first.HasField("error")) == (True, pb.MEMBER, False)
    assert (second.allowed, second.reason) == (False, pb.NOT_MEMBER)
    assert third.error.code == pb.FAILED_PRECONDITION and not third.allowed
    assert "dup" in third.error.message


def test_unknown_directory_is_not_found(roster: RosterClient) -> None:
    with pytest.raises(NotFound):
        roster.check(f"dir_missing_{uuid.uuid4().hex}", "a", "b")


def test_min_revision_never_reached_is_deadline_exceeded(roster: RosterClient, seeded: SeededDirectory) -> None:
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded):
        roster.check(seeded.directory_id, "alice@example.com", "admins", min_revision=seeded.revision + 10**9, timeout=0.3)
    assert time.monotonic() - started < 3.0
    assert roster.health().status == "SERVING"


def _read_until_revision(stream, revision: int) -> list[pb.WatchEvent]:  # type: ignore[no-untyped-def]
    """Events until one at ``revision`` or later arrives (bounded by the stream's timeout)."""
    events = []
    for event in stream:
        events.append(event)
        if event.revision >= revision:
            return events
    raise AssertionError(f"watch ended before revision {revision}; got {[(e.revision, e.kind) for e in events]}")


def test_watch_history_order_live_tail_and_resume(roster: RosterClient, seeded: SeededDirectory) -> None:
    d = seeded.directory_id
    with roster.watch(from_revision=seeded.revision_before, directory_id=d, timeout=WAIT) as stream:
        # A write after the seed marks the end of the seed's events: delivery is in revision order.
        _, marker = seeded.scim.create_user("marker@example.com")
        history = _read_until_revision(stream, marker)
        keys = [(e.revision, e.seq) for e in history]
        assert keys == sorted(set(keys)), "events strictly increasing in (revision, seq)"
        assert all(e.directory_id == d for e in history)
        assert all(e.revision > seeded.revision_before for e in history)
        kinds = [e.kind for e in history]
        assert kinds.count("user.created") == 3
        assert "group.created" in kinds
        assert any(e.kind == "group.user_added" and e.user_id == seeded.alice_id for e in history)
        assert all(e.time_unix_ms > 1_600_000_000_000 for e in history)

        # Live tail: suspension removes the membership with cause user_suspended. The write
        # after it ensures every event of the suspension's revision has been read.
        suspended_at = seeded.scim.set_active(seeded.alice_id, False)
        _, after = seeded.scim.create_user("marker-2@example.com")
        live = _read_until_revision(stream, after)
        at_suspension = [e for e in live if e.revision == suspended_at]
        assert any(e.kind == "user.suspended" and e.user_id == seeded.alice_id for e in at_suspension)
        assert any(
            e.kind == "group.user_removed" and e.group_id == seeded.admins_id and e.cause == "user_suspended"
            for e in live
        )

    # Resume from a revision in the middle: exactly the later events, no gap, no duplicate.
    seen = [(e.revision, e.seq, e.kind) for e in history if e.revision <= marker]
    middle = seen[len(seen) // 2][0]
    with roster.watch(from_revision=middle, directory_id=d, timeout=WAIT) as resumed:
        again = _read_until_revision(resumed, marker)
    assert [(e.revision, e.seq, e.kind) for e in again if e.revision <= marker] == [
        k for k in seen if k[0] > middle
    ]


def test_watch_cancel_keeps_the_connection(roster: RosterClient, seeded: SeededDirectory) -> None:
    stream = roster.watch(from_revision=seeded.revision_before, directory_id=seeded.directory_id, timeout=WAIT)
    assert next(stream).revision > seeded.revision_before
    stream.cancel()
    assert list(stream) == []
    assert roster.check(seeded.directory_id, "alice@example.com", "admins").allowed


def test_async_client(rosterd: Daemon, seeded: SeededDirectory) -> None:
    async def main() -> None:
        async with await AsyncRosterClient.connect(rosterd.socket_path, timeout=WAIT) as client:
            names = ["alice@example.com", "bob@example.com"] * 100
            results = await asyncio.gather(
                *(client.check(seeded.directory_id, n, "admins", min_revision=seeded.revision) for n in names)
            )
            assert [r.allowed for r in results] == [n.startswith("alice") for n in names]
            many = await client.check_many(seeded.directory_id, [(n, "admins") for n in names], window=32)
            assert [r.allowed for r in many] == [r.allowed for r in results]
            stream = await client.watch(from_revision=seeded.revision_before, directory_id=seeded.directory_id)
            first = await stream.__anext__()
            assert first.revision > seeded.revision_before
            await stream.cancel()
            assert (await client.health()).status == "SERVING"

    asyncio.run(asyncio.wait_for(main(), 60))


def test_admin_calls(roster: RosterClient, seeded: SeededDirectory, rosterd: Daemon) -> None:
    d = seeded.directory_id
    listed = {x.id: x for x in roster.list_directories().directories}
    assert (listed[d].users, listed[d].groups, listed[d].memberships) == (2, 1, 1)
    assert listed[d].provider == "generic" and listed[d].policy == "revoke"

    rotated = roster.rotate_token(d)
    assert rotated.live_tokens == 2 and rotated.token and rotated.token != seeded.scim.token
    for token in (seeded.scim.token, rotated.token):  # both live during rotation
        status, _, _ = ScimDirectory(seeded.scim.base_url, token).request("GET", "/Users")
        assert status == 200

    verified = roster.verify()
    assert verified.ok, list(verified.differences)
    assert verified.users_checked >= 2 and verified.memberships_checked >= 1

    records = roster.audit(d, limit=50).records
    assert any(r.method == "POST" and r.http_status == 201 for r in records)

    backup_path = Path(rosterd.workdir) / f"backup-{uuid.uuid4().hex}.sqlite"
    backup = roster.backup(str(backup_path))
    assert backup.bytes > 0 and backup_path.stat().st_size == backup.bytes

    deleted = roster.delete_group(d, group_id=seeded.admins_id)
    assert deleted.memberships_removed == 1
    gone = roster.check(d, "alice@example.com", "admins", min_revision=deleted.revision)
    assert gone.reason == pb.GROUP_UNKNOWN

    dropped = roster.delete_directory(d)
    assert dropped.revision > deleted.revision
    with pytest.raises(NotFound):
        roster.check(d, "alice@example.com", "admins", min_revision=dropped.revision)


def _raw_exchange(socket_path: str, data: bytes) -> tuple[list[pb.ResponseFrame], bool]:
    """Send raw bytes; return the frames received and whether the server then closed."""
    decoder = FrameDecoder(pb.ResponseFrame)
    frames: list[pb.ResponseFrame] = []
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(WAIT)
        sock.connect(socket_path)
        sock.sendall(data)
        while True:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                return frames, False
            except ConnectionResetError:
                return frames, True
            if not chunk:
                return frames, True
            frames += decoder.feed(chunk)
            if frames and frames[-1].call_id == 0:
                sock.settimeout(1.0)  # a connection-level error: the close should follow at once


def test_oversized_frame_is_refused_with_a_connection_error(rosterd: Daemon) -> None:
    frames, closed = _raw_exchange(rosterd.socket_path, (4 * 1024 * 1024 + 1).to_bytes(4, "big"))
    assert closed
    assert len(frames) == 1 and frames[0].call_id == 0
    assert frames[0].status.code == pb.RESOURCE_EXHAUSTED
    assert "4194305" in frames[0].status.message


def test_garbage_payload_is_refused_with_a_connection_error(rosterd: Daemon) -> None:
    frames, closed = _raw_exchange(rosterd.socket_path, bytes.fromhex("00000003ffffff"))
    assert closed
    assert [(f.call_id, f.status.code) for f in frames] == [(0, pb.INVALID_ARGUMENT)]


def test_request_without_a_known_method_is_unimplemented(rosterd: Daemon) -> None:
    # Field 99 stands for a method a newer client knows and this server does not.
    unknown_method = pb.RequestFrame(call_id=5).SerializeToString() + bytes.fromhex("9a0600")
    health = encode_frame(pb.RequestFrame(call_id=6, health=pb.HealthRequest()))
    data = len(unknown_method).to_bytes(4, "big") + unknown_method + health
    decoder = FrameDecoder(pb.ResponseFrame)
    frames: list[pb.ResponseFrame] = []
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(WAIT)
        sock.connect(rosterd.socket_path)
        sock.sendall(data)
        while len(frames) < 2:
            chunk = sock.recv(65536)
            assert chunk, f"server closed the connection after {frames}"
            frames += decoder.feed(chunk)
    by_id = {f.call_id: f for f in frames}
    assert by_id[5].status.code == pb.UNIMPLEMENTED
    assert by_id[6].health.status == "SERVING", "the connection survives an unknown method"
