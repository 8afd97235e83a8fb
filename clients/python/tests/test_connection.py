"""The sans-I/O connection state (roster_client.connection): call ids and dispatch rules."""

from __future__ import annotations

import pytest

from roster_client import roster_pb2 as pb
from roster_client.connection import Connection, timeout_ms, unwrap
from roster_client.errors import Internal, NotFound, ResourceExhausted, Unavailable
from roster_client.frame import FrameDecoder, encode_frame


def _sent(data: bytes) -> pb.RequestFrame:
    (frame,) = FrameDecoder(pb.RequestFrame).feed(data)
    return frame


def _answer(call_id: int, **fields: object) -> bytes:
    return encode_frame(pb.ResponseFrame(call_id=call_id, **fields))  # type: ignore[arg-type]


def test_call_ids_start_at_one_and_increase() -> None:
    conn = Connection()
    ids = [conn.start_call("health", pb.HealthRequest(), 1.0)[0] for _ in range(3)]
    assert ids == [1, 2, 3]
    assert conn.in_flight == {1, 2, 3}


def test_request_frame_carries_method_and_deadline() -> None:
    conn = Connection()
    _, data = conn.start_call("check", pb.CheckRequest(directory_id="d"), 0.25)
    frame = _sent(data)
    assert (frame.call_id, frame.timeout_ms, frame.WhichOneof("method")) == (1, 250, "check")


@pytest.mark.parametrize(("seconds", "ms"), [(None, 0), (0.0, 1), (0.0001, 1), (1.5, 1500), (1e12, 0xFFFFFFFF)])
def test_timeout_wire_form(seconds: float | None, ms: int) -> None:
    assert timeout_ms(seconds) == ms


def test_out_of_order_answers_are_returned_for_their_calls() -> None:
    conn = Connection()
    for _ in range(3):
        conn.start_call("health", pb.HealthRequest(), None)
    data = b"".join(_answer(i, health=pb.HealthResponse(revision=i)) for i in (3, 1, 2))
    assert [f.call_id for f in conn.receive_data(data)] == [3, 1, 2]
    assert conn.in_flight == frozenset()


def test_stream_stays_in_flight_until_end_of_stream() -> None:
    conn = Connection()
    call_id, _ = conn.start_call("watch", pb.WatchRequest(), None, stream=True)
    assert len(conn.receive_data(_answer(call_id, event=pb.WatchEvent(revision=5)) * 2)) == 2
    assert call_id in conn.in_flight
    conn.receive_data(_answer(call_id, end_of_stream=True))
    assert call_id not in conn.in_flight


def test_stream_ended_by_an_error_status() -> None:
    conn = Connection()
    call_id, _ = conn.start_call("watch", pb.WatchRequest(), None, stream=True)
    conn.receive_data(_answer(call_id, status=pb.Status(code=pb.OUT_OF_RANGE, message="pruned")))
    assert call_id not in conn.in_flight


def test_abandoned_call_late_answer_is_dropped() -> None:
    conn = Connection()
    call_id, _ = conn.start_call("check", pb.CheckRequest(), 0.01)
    conn.abandon(call_id)
    assert conn.receive_data(_answer(call_id, check=pb.CheckResponse())) == []
    # Its terminal frame closed the books on it: a second frame is a protocol error.
    with pytest.raises(Internal, match="not in flight"):
        conn.receive_data(_answer(call_id, check=pb.CheckResponse()))


def test_cancel_sends_cancel_and_drops_the_stream_remainder() -> None:
    conn = Connection()
    watch_id, _ = conn.start_call("watch", pb.WatchRequest(), None, stream=True)
    cancel = _sent(conn.cancel(watch_id))
    assert cancel.cancel.target_call_id == watch_id
    late = _answer(watch_id, event=pb.WatchEvent()) + _answer(cancel.call_id, cancel=pb.CancelResponse())
    late += _answer(watch_id, status=pb.Status(code=pb.CANCELLED), end_of_stream=True)
    assert conn.receive_data(late) == []
    assert conn.in_flight == frozenset()


def test_connection_level_error_frame_fails_the_connection() -> None:
    conn = Connection()
    conn.start_call("health", pb.HealthRequest(), None)
    error_frame = _answer(0, status=pb.Status(code=pb.RESOURCE_EXHAUSTED, message="frame too large"))
    with pytest.raises(ResourceExhausted, match="frame too large"):
        conn.receive_data(error_frame)
    with pytest.raises(ResourceExhausted):
        conn.start_call("health", pb.HealthRequest(), None)


def test_unknown_call_id_is_a_protocol_error() -> None:
    with pytest.raises(Internal, match="call 99"):
        Connection().receive_data(_answer(99, health=pb.HealthResponse()))


def test_undecodable_bytes_fail_the_connection_as_internal() -> None:
    conn = Connection()
    with pytest.raises(Internal, match="invalid data from rosterd"):
        conn.receive_data(bytes.fromhex("00000003ffffff"))
    assert isinstance(conn.error, Internal)


def test_oversized_response_fails_the_connection() -> None:
    conn = Connection(max_frame_size=16)
    with pytest.raises(Internal, match="exceeds the maximum 16"):
        conn.receive_data((17).to_bytes(4, "big"))


def test_oversized_request_is_refused_locally() -> None:
    with pytest.raises(ResourceExhausted, match="backup request too large"):
        Connection(max_frame_size=16).start_call("backup", pb.BackupRequest(path="x" * 32), None)


def test_eof_mid_frame_is_reported() -> None:
    conn = Connection()
    conn.receive_data(b"\x00\x00")
    error = conn.receive_eof()
    assert isinstance(error, Unavailable) and "length-prefix" in str(error)


def test_unwrap_raises_typed_errors_and_checks_the_result_kind() -> None:
    not_found = pb.ResponseFrame(call_id=4, status=pb.Status(code=pb.NOT_FOUND, message="no such directory"))
    with pytest.raises(NotFound) as raised:
        unwrap(not_found, "check")
    assert (raised.value.code, raised.value.code_value, raised.value.call_id) == ("NOT_FOUND", 5, 4)
    assert str(raised.value) == "NOT_FOUND: no such directory"
    with pytest.raises(Internal, match="answered a check call with result 'health'"):
        unwrap(pb.ResponseFrame(call_id=1, health=pb.HealthResponse()), "check")
    ok = pb.ResponseFrame(call_id=1, check=pb.CheckResponse(allowed=True))
    assert unwrap(ok, "check") == pb.CheckResponse(allowed=True)
