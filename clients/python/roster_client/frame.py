"""Sans-I/O framing for the Roster protocol.

A frame is a 4-byte big-endian unsigned length N followed by N bytes of one
protobuf message (docs/PROTOCOL.md). Nothing here touches a socket: feed bytes
in, get messages out, in the spirit of h11. Both clients and the tests use it.
"""

from __future__ import annotations

import struct
from typing import Generic, TypeVar

from google.protobuf.message import DecodeError, Message

__all__ = [
    "DEFAULT_MAX_FRAME_SIZE",
    "HEADER_SIZE",
    "FrameDecodeError",
    "FrameDecoder",
    "FrameError",
    "FrameTooLarge",
    "TruncatedFrame",
    "encode_frame",
]

#: The server's default limit; both sides reject a longer frame.
DEFAULT_MAX_FRAME_SIZE = 4 * 1024 * 1024
HEADER_SIZE = 4

_HEADER = struct.Struct(">I")

M = TypeVar("M", bound=Message)


class FrameError(Exception):
    """The byte stream is not a valid sequence of frames."""


class FrameTooLarge(FrameError):
    """A frame's length exceeds the configured maximum."""

    def __init__(self, length: int, max_frame_size: int) -> None:
        super().__init__(
            f"frame length {length} exceeds the maximum {max_frame_size} "
            f"(max_frame_size is configurable on both sides)"
        )
        self.length = length
        self.max_frame_size = max_frame_size


class FrameDecodeError(FrameError):
    """A complete frame's payload is not a valid protobuf message of the expected type."""


class TruncatedFrame(FrameError):
    """The stream ended in the middle of a frame."""


def encode_frame(message: Message, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE) -> bytes:
    """Serialize ``message`` and prefix it with its length.

    Raises FrameTooLarge instead of producing a frame the peer would reject.
    """
    payload = message.SerializeToString()
    if len(payload) > max_frame_size:
        raise FrameTooLarge(len(payload), max_frame_size)
    return _HEADER.pack(len(payload)) + payload


class FrameDecoder(Generic[M]):
    """Incremental decoder: ``feed`` bytes as they arrive, get whole messages back.

    The length prefix is checked as soon as its 4 bytes are in, so an oversized
    frame is rejected before any of its payload is buffered. After an error the
    stream cannot be resynchronized: every later ``feed`` raises the same error.
    """

    def __init__(self, message_type: type[M], max_frame_size: int = DEFAULT_MAX_FRAME_SIZE) -> None:
        if not 0 <= max_frame_size <= 0xFFFFFFFF:
            raise ValueError(f"max_frame_size must be in 0...{0xFFFFFFFF}, got {max_frame_size}")
        self._type = message_type
        self._max = max_frame_size
        # Header bytes while _payload_length is None, payload bytes after.
        self._buf = bytearray()
        self._payload_length: int | None = None
        self._error: FrameError | None = None

    @property
    def buffered(self) -> int:
        """Bytes held for the frame in progress (never more than one frame)."""
        return len(self._buf)

    def feed(self, data: bytes | bytearray | memoryview) -> list[M]:
        """Consume ``data``; return the messages of every frame it completes, in order."""
        if self._error is not None:
            raise self._error
        view = memoryview(data)
        messages: list[M] = []
        pos = 0
        while True:
            if self._payload_length is None:
                take = min(HEADER_SIZE - len(self._buf), len(view) - pos)
                self._buf += view[pos : pos + take]
                pos += take
                if len(self._buf) < HEADER_SIZE:
                    return messages
                (length,) = _HEADER.unpack(self._buf)
                self._buf.clear()
                if length > self._max:
                    raise self._fail(FrameTooLarge(length, self._max))
                self._payload_length = length
            take = min(self._payload_length - len(self._buf), len(view) - pos)
            self._buf += view[pos : pos + take]
            pos += take
            if len(self._buf) < self._payload_length:
                return messages
            messages.append(self._parse(bytes(self._buf)))
            self._buf.clear()
            self._payload_length = None
            if pos == len(view):
                return messages

    def eof(self) -> None:
        """Declare the end of the stream; raises TruncatedFrame if a frame is incomplete."""
        if self._error is not None:
            raise self._error
        if self._payload_length is not None or self._buf:
            if self._payload_length is None:
                detail = f"{len(self._buf)} of {HEADER_SIZE} length-prefix bytes"
            else:
                detail = f"{len(self._buf)} of {self._payload_length} payload bytes"
            raise self._fail(TruncatedFrame(f"stream ended inside a frame after {detail}"))

    def _parse(self, payload: bytes) -> M:
        message = self._type()
        try:
            message.ParseFromString(payload)
        except DecodeError as error:
            raise self._fail(
                FrameDecodeError(
                    f"{len(payload)}-byte frame is not a valid {self._type.DESCRIPTOR.full_name}: {error}"
                )
            ) from error
        return message

    def _fail(self, error: FrameError) -> FrameError:
        self._error = error
        self._buf.clear()
        return error
