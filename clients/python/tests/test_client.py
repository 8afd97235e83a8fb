"""RosterClient and AsyncRosterClient against a scripted fake server (no daemon needed)."""

from __future__ import annotations

import asyncio
import time

import pytest
from fake_server import FakeConnection, FakeServer, answer_check

from roster_client import (
    AsyncRosterClient,
    DeadlineExceeded,
    FailedPrecondition,
    NotFound,
    ResourceExhausted,
    RosterClient,
    Unavailable,
)
from roster_client import roster_pb2 as pb


def test_check_sends_refs_and_deadline_and_returns_the_answer() -> None:
    seen: list[pb.RequestFrame] = []

    def script(conn: FakeConnection) -> None:
        (request,) = conn.read(1)
        seen.append(request)
        conn.send(answer_check(request))

    server = FakeServer(script)
    with RosterClient(server.path, timeout=2.0) as client:
        response = client.check("dir", "member-1", group_id="grp_1", min_revision=9)
    server.join()
    assert (response.allowed, response.reason, response.revision) == (True, pb.MEMBER, 9)
    check = seen[0].check
    assert seen[0].timeout_ms == 2000
    assert (check.directory_id, check.user.user_name, check.group.id) == ("dir", "member-1", "grp_1")


def test_status_error_is_typed_and_the_connection_stays_usable() -> None:
    def script(conn: FakeConnection) -> None:
        (request,) = conn.read(1)
        conn.send(pb.ResponseFrame(call_id=request.call_id, status=pb.Status(code=pb.NOT_FOUND, message="no dir")))
        (request,) = conn.read(1)
        conn.send(pb.ResponseFrame(call_id=request.call_id, health=pb.HealthResponse(status="SERVING")))

    server = FakeServer(script)
    with RosterClient(server.path) as client:
        with pytest.raises(NotFound, match="no dir"):
            client.get_user("missing", user_id="u")
        assert client.health().status == "SERVING"
    server.join()


def test_ambiguous_refs_are_refused_before_sending() -> None:
    server = FakeServer(lambda conn: None)
    with RosterClient(server.path) as client:
        with pytest.raises(ValueError, match="exactly one of user="):
            client.check("dir", "alice", "admins", user_id="u1")
        with pytest.raises(ValueError, match="got none"):
            client.check("dir", None, "admins")
    server.join()


def test_check_many_pipelines_within_the_window_and_reorders_answers() -> None:
    total, window = 300, 64
    max_outstanding = 0

    def script(conn: FakeConnection) -> None:
        nonlocal max_outstanding
        answered = received = 0
        while answered < total:
            batch = conn.read_available()
            received += len(batch)
            max_outstanding = max(max_outstanding, received - answered)
            conn.send(*[answer_check(r) for r in reversed(batch)])  # answers out of order
            answered += len(batch)

    server = FakeServer(script)
    pairs = [(f"member-{i}" if i % 3 == 0 else f"other-{i}", "g") for i in range(total)]
    with RosterClient(server.path) as client:
        results = client.check_many("dir", pairs, min_revision=5, window=window)
    server.join()
    assert [r.allowed for r in results] == [i % 3 == 0 for i in range(total)]
    assert all(r.revision == 5 for r in results)
    assert 1 < max_outstanding <= window


def test_check_many_raises_the_first_error_after_draining() -> None:
    def script(conn: FakeConnection) -> None:
        requests = conn.read(3)
        failed = pb.Status(code=pb.FAILED_PRECONDITION, message="ambiguous")
        conn.send(answer_check(requests[0]), pb.ResponseFrame(call_id=requests[1].call_id, status=failed))
        conn.send(answer_check(requests[2]))
        (health,) = conn.read(1)
        conn.send(pb.ResponseFrame(call_id=health.call_id, health=pb.HealthResponse(revision=1)))

    server = FakeServer(script)
    with RosterClient(server.path) as client:
        with pytest.raises(FailedPrecondition, match="ambiguous"):
            client.check_many("dir", [("member", "a"), ("x", "dup"), ("member", "b")])
        assert client.health().revision == 1  # nothing left over from check_many
    server.join()


def test_local_deadline_and_late_answer_is_dropped() -> None:
    def script(conn: FakeConnection) -> None:
        (slow,) = conn.read(1)
        (health,) = conn.read(1)  # sent after the client gave up on `slow`
        conn.send(answer_check(slow), pb.ResponseFrame(call_id=health.call_id, health=pb.HealthResponse(revision=2)))

    server = FakeServer(script)
    with RosterClient(server.path) as client:
        started = time.monotonic()
        with pytest.raises(DeadlineExceeded):
            client.check("dir", "member", "g", timeout=0.2)
        assert 0.15 < time.monotonic() - started < 2.0
        assert client.health().revision == 2
    server.join()


def test_watch_interleaves_with_other_calls_and_cancel_ends_it() -> None:
    cancel_target: list[int] = []

    def script(conn: FakeConnection) -> None:
        (watch,) = conn.read(1)
        assert watch.watch.from_revision == 10
        events = [pb.ResponseFrame(call_id=watch.call_id, event=pb.WatchEvent(revision=11, seq=s)) for s in range(2)]
        conn.send(*events)
        (health,) = conn.read(1)
        conn.send(
            pb.ResponseFrame(call_id=watch.call_id, event=pb.WatchEvent(revision=12)),
            pb.ResponseFrame(call_id=health.call_id, health=pb.HealthResponse(revision=12)),
        )
        (cancel,) = conn.read(1)
        cancel_target.append(cancel.cancel.target_call_id)
        conn.send(
            pb.ResponseFrame(call_id=watch.call_id, event=pb.WatchEvent(revision=13)),  # in flight before cancel
            pb.ResponseFrame(call_id=cancel.call_id, cancel=pb.CancelResponse()),
            pb.ResponseFrame(call_id=watch.call_id, status=pb.Status(code=pb.CANCELLED), end_of_stream=True),
        )
        (health,) = conn.read(1)
        conn.send(pb.ResponseFrame(call_id=health.call_id, health=pb.HealthResponse(revision=13)))

    server = FakeServer(script)
    with RosterClient(server.path) as client:
        stream = client.watch(from_revision=10)
        assert [(e.revision, e.seq) for e in (next(stream), next(stream))] == [(11, 0), (11, 1)]
        assert client.health().revision == 12
        assert next(stream).revision == 12
        stream.cancel()
        assert list(stream) == []
        assert client.health().revision == 13  # the dropped frames did not confuse later calls
    server.join()
    assert cancel_target == [stream.call_id]


def test_watch_ends_with_the_server_status() -> None:
    def script(conn: FakeConnection) -> None:
        (watch,) = conn.read(1)
        conn.send(
            pb.ResponseFrame(call_id=watch.call_id, event=pb.WatchEvent(revision=1)),
            pb.ResponseFrame(
                call_id=watch.call_id, status=pb.Status(code=pb.UNAVAILABLE, message="shutting down"), end_of_stream=True
            ),
        )

    server = FakeServer(script)
    with RosterClient(server.path) as client:
        stream = client.watch()
        assert next(stream).revision == 1
        with pytest.raises(Unavailable, match="shutting down"):
            next(stream)
    server.join()


def test_watch_ends_cleanly_on_ok_end_of_stream() -> None:
    def script(conn: FakeConnection) -> None:
        (watch,) = conn.read(1)
        conn.send(pb.ResponseFrame(call_id=watch.call_id, end_of_stream=True))

    server = FakeServer(script)
    with RosterClient(server.path) as client:
        assert list(client.watch()) == []
    server.join()


def test_connection_level_error_frame_fails_every_call() -> None:
    def script(conn: FakeConnection) -> None:
        conn.read(1)
        conn.send(pb.ResponseFrame(status=pb.Status(code=pb.RESOURCE_EXHAUSTED, message="frame too large")))

    server = FakeServer(script)
    with RosterClient(server.path) as client:
        with pytest.raises(ResourceExhausted, match="frame too large"):
            client.stats()
        with pytest.raises(ResourceExhausted):
            client.health()
    server.join()


def test_server_closing_mid_call_is_unavailable() -> None:
    def script(conn: FakeConnection) -> None:
        conn.read(1)
        conn.sock.sendall(b"\x00\x00\x00\x09\x08")  # part of a frame, then close

    server = FakeServer(script)
    with RosterClient(server.path) as client:
        with pytest.raises(Unavailable, match="closed the connection.*1 of 9 payload bytes"):
            client.health()
    server.join()


def test_connect_to_a_missing_socket_is_unavailable(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(Unavailable, match="cannot connect to rosterd"):
        RosterClient(tmp_path / "absent.sock")


# -- asyncio ------------------------------------------------------------------


def test_async_concurrent_calls_are_matched_by_call_id() -> None:
    total = 200

    def script(conn: FakeConnection) -> None:
        answered = 0
        while answered < total:
            batch = conn.read_available()
            conn.send(*[answer_check(r) for r in reversed(batch)])
            answered += len(batch)

    async def main() -> list[pb.CheckResponse]:
        async with await AsyncRosterClient.connect(server.path) as client:
            names = [f"member-{i}" if i % 2 else f"x-{i}" for i in range(total)]
            return await asyncio.gather(*(client.check("d", n, "g", min_revision=i) for i, n in enumerate(names)))

    server = FakeServer(script)
    results = asyncio.run(main())
    server.join()
    assert [(r.allowed, r.revision) for r in results] == [(i % 2 == 1, i) for i in range(total)]


def test_async_check_many_window_and_order() -> None:
    def script(conn: FakeConnection) -> None:
        answered = 0
        while answered < 100:
            batch = conn.read_available()
            assert len(batch) <= 16
            conn.send(*[answer_check(r) for r in reversed(batch)])
            answered += len(batch)

    async def main() -> list[pb.CheckResponse]:
        async with await AsyncRosterClient.connect(server.path) as client:
            return await client.check_many("d", [(f"member-{i}", "g") for i in range(100)], min_revision=3, window=16)

    server = FakeServer(script)
    results = asyncio.run(main())
    server.join()
    assert len(results) == 100 and all(r.allowed and r.revision == 3 for r in results)


def test_async_deadline_then_late_answer_dropped_and_errors_typed() -> None:
    def script(conn: FakeConnection) -> None:
        (slow,) = conn.read(1)
        (missing,) = conn.read(1)
        conn.send(
            answer_check(slow),
            pb.ResponseFrame(call_id=missing.call_id, status=pb.Status(code=pb.NOT_FOUND, message="gone")),
        )

    async def main() -> None:
        async with await AsyncRosterClient.connect(server.path) as client:
            with pytest.raises(DeadlineExceeded):
                await client.check("d", "member", "g", timeout=0.1)
            with pytest.raises(NotFound, match="gone"):
                await client.get_group("d", group_id="x")

    server = FakeServer(script)
    asyncio.run(main())
    server.join()


def test_async_watch_and_cancel() -> None:
    def script(conn: FakeConnection) -> None:
        (watch,) = conn.read(1)
        conn.send(*[pb.ResponseFrame(call_id=watch.call_id, event=pb.WatchEvent(revision=r)) for r in (4, 5)])
        (cancel,) = conn.read(1)
        assert cancel.cancel.target_call_id == watch.call_id
        conn.send(
            pb.ResponseFrame(call_id=cancel.call_id, cancel=pb.CancelResponse()),
            pb.ResponseFrame(call_id=watch.call_id, status=pb.Status(code=pb.CANCELLED), end_of_stream=True),
        )
        (health,) = conn.read(1)
        conn.send(pb.ResponseFrame(call_id=health.call_id, health=pb.HealthResponse(revision=5)))

    async def main() -> None:
        async with await AsyncRosterClient.connect(server.path) as client:
            revisions = []
            async with await client.watch(from_revision=3) as stream:
                async for event in stream:
                    revisions.append(event.revision)
                    if event.revision == 5:
                        break
            assert revisions == [4, 5]
            assert (await client.health()).revision == 5

    server = FakeServer(script)
    asyncio.run(main())
    server.join()


def test_async_server_close_fails_waiting_calls() -> None:
    def script(conn: FakeConnection) -> None:
        conn.read(2)

    async def main() -> None:
        async with await AsyncRosterClient.connect(server.path) as client:
            outcomes = await asyncio.gather(client.health(), client.stats(), return_exceptions=True)
            assert all(isinstance(o, Unavailable) for o in outcomes), outcomes

    server = FakeServer(script)
    asyncio.run(main())
    server.join()
