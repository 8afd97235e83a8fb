"""Sans-I/O state of one client connection: call ids, the frame codec, calls in flight.

The blocking and the asyncio client both drive a ``Connection``: they send the
bytes it returns and feed it the bytes they read; it tells them which frames
belong to which call. Keeping this apart from the sockets lets the multiplexing
rules (docs/PROTOCOL.md, "Calls") be tested without any I/O.
"""

from __future__ import annotations

import math

from google.protobuf.message import Message

from . import roster_pb2 as pb
from .errors import Internal, ResourceExhausted, RosterError, Unavailable, error_from_status
from .frame import DEFAULT_MAX_FRAME_SIZE, FrameDecoder, FrameError, FrameTooLarge, encode_frame

__all__ = ["Connection", "timeout_ms", "unwrap"]

_MAX_TIMEOUT_MS = 0xFFFFFFFF


def timeout_ms(timeout: float | None) -> int:
    """The wire form of a relative deadline in seconds: 0 for none, else at least 1 ms."""
    if timeout is None:
        return 0
    return min(_MAX_TIMEOUT_MS, max(1, math.ceil(timeout * 1000)))


def unwrap(frame: pb.ResponseFrame, method: str) -> Message:
    """The result of a unary call's response, or the typed error its status names."""
    if frame.status.code != pb.OK:
        raise error_from_status(frame.status, frame.call_id)
    which = frame.WhichOneof("result")
    if which != method:
        raise Internal(f"rosterd answered a {method} call with result {which!r}", call_id=frame.call_id)
    result: Message = getattr(frame, method)
    return result


class Connection:
    """Client side of the protocol for one connection, without I/O.

    Call ids start at 1 and increase; 0 is the server's connection-level id.
    A call is *in flight* from ``start_call`` until its terminal frame arrives
    (the only frame of a unary call, the ``end_of_stream`` frame of a stream).
    A call the caller stopped waiting for is *abandoned*: its remaining frames
    are dropped when they arrive, so a late answer never reaches another call.
    """

    def __init__(self, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE) -> None:
        self._max_frame_size = max_frame_size
        self._decoder = FrameDecoder(pb.ResponseFrame, max_frame_size)
        self._next_call_id = 1
        # call id -> is a stream (Watch); the caller waits for these frames.
        self._in_flight: dict[int, bool] = {}
        self._abandoned: dict[int, bool] = {}
        self.error: RosterError | None = None

    @property
    def in_flight(self) -> frozenset[int]:
        return frozenset(self._in_flight)

    def start_call(
        self, method: str, request: Message, timeout: float | None, *, stream: bool = False
    ) -> tuple[int, bytes]:
        """Allocate a call id; return it with the frame bytes to send."""
        if self.error is not None:
            raise self.error
        call_id = self._next_call_id
        self._next_call_id += 1
        frame = pb.RequestFrame(call_id=call_id, timeout_ms=timeout_ms(timeout))
        getattr(frame, method).CopyFrom(request)
        try:
            data = encode_frame(frame, self._max_frame_size)
        except FrameTooLarge as error:
            raise ResourceExhausted(f"{method} request too large: {error}", call_id=call_id) from error
        self._in_flight[call_id] = stream
        return call_id, data

    def abandon(self, call_id: int) -> None:
        """Stop waiting for a call (local deadline, cancel); its late frames will be dropped."""
        stream = self._in_flight.pop(call_id, None)
        if stream is not None:
            self._abandoned[call_id] = stream

    def cancel(self, call_id: int) -> bytes:
        """Abandon ``call_id`` and return the Cancel frame asking the server to end it.

        The Cancel call's own (empty) answer is not needed, so it is abandoned too.
        """
        self.abandon(call_id)
        cancel_id, data = self.start_call("cancel", pb.CancelRequest(target_call_id=call_id), None)
        self.abandon(cancel_id)
        return data

    def receive_data(self, data: bytes) -> list[pb.ResponseFrame]:
        """Feed bytes read from the socket; return the frames of calls still awaited.

        Raises (and remembers, see ``error``) a RosterError when the connection
        can no longer be used: undecodable bytes, or a connection-level error
        frame from the server, which closes the connection after sending it.
        """
        if self.error is not None:
            raise self.error
        try:
            frames = self._decoder.feed(data)
        except FrameError as error:
            raise self.fail(Internal(f"invalid data from rosterd: {error}")) from error
        awaited = []
        for frame in frames:
            call_id = frame.call_id
            if call_id == 0:
                if frame.status.code == pb.OK:
                    raise self.fail(Internal("rosterd sent a connection-level frame without an error status"))
                raise self.fail(error_from_status(frame.status))
            if call_id in self._in_flight:
                if _is_terminal(frame, self._in_flight[call_id]):
                    del self._in_flight[call_id]
                awaited.append(frame)
            elif call_id in self._abandoned:
                if _is_terminal(frame, self._abandoned[call_id]):
                    del self._abandoned[call_id]
            else:
                raise self.fail(Internal(f"rosterd sent a frame for call {call_id}, which is not in flight"))
        return awaited

    def receive_eof(self) -> RosterError:
        """The server closed the connection; returns the error for the calls still waiting."""
        if self.error is None:
            try:
                self._decoder.eof()
                detail = ""
            except FrameError as error:
                detail = f" ({error})"
            self.error = Unavailable(f"rosterd closed the connection{detail}")
        return self.error

    def fail(self, error: RosterError) -> RosterError:
        """Mark the connection unusable (an I/O error, a protocol error); keeps the first error."""
        if self.error is None:
            self.error = error
        return self.error


def _is_terminal(frame: pb.ResponseFrame, stream: bool) -> bool:
    # A non-OK status always ends a call, stream or not.
    return not stream or frame.end_of_stream or frame.status.code != pb.OK
