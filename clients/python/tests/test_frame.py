"""Unit tests of the sans-I/O frame codec (roster_client.frame)."""

from __future__ import annotations

import random

import pytest

from roster_client import roster_pb2 as pb
from roster_client.frame import (
    DEFAULT_MAX_FRAME_SIZE,
    FrameDecodeError,
    FrameDecoder,
    FrameError,
    FrameTooLarge,
    TruncatedFrame,
    encode_frame,
)


def _response(call_id: int, revision: int = 7) -> pb.ResponseFrame:
    return pb.ResponseFrame(call_id=call_id, check=pb.CheckResponse(allowed=True, reason=pb.MEMBER, revision=revision))


def test_round_trip() -> None:
    frame = _response(3)
    data = encode_frame(frame)
    assert data[:4] == len(frame.SerializeToString()).to_bytes(4, "big")
    assert FrameDecoder(pb.ResponseFrame).feed(data) == [frame]


def test_zero_length_frame_is_a_default_message() -> None:
    decoder = FrameDecoder(pb.ResponseFrame)
    assert decoder.feed(b"\x00\x00\x00\x00") == [pb.ResponseFrame()]
    assert decoder.feed(b"\x00\x00\x00\x00" * 3) == [pb.ResponseFrame()] * 3


def test_coalesced_frames_in_one_feed() -> None:
    frames = [_response(i, revision=i * 1000) for i in range(1, 51)]
    assert FrameDecoder(pb.ResponseFrame).feed(b"".join(encode_frame(f) for f in frames)) == frames


def test_every_split_point_of_two_frames() -> None:
    frames = [_response(1), pb.ResponseFrame(call_id=2, end_of_stream=True), pb.ResponseFrame()]
    stream = b"".join(encode_frame(f) for f in frames)
    for cut in range(len(stream) + 1):
        decoder = FrameDecoder(pb.ResponseFrame)
        assert decoder.feed(stream[:cut]) + decoder.feed(stream[cut:]) == frames, f"cut at {cut}"
        decoder.eof()


def test_drip_feed_holds_at_most_one_partial_frame() -> None:
    stream = b"".join(encode_frame(_response(i)) for i in range(1, 11))
    decoder = FrameDecoder(pb.ResponseFrame)
    out = []
    for byte in stream:
        out += decoder.feed(bytes([byte]))
        assert decoder.buffered < len(encode_frame(_response(10)))
    assert [f.call_id for f in out] == list(range(1, 11))


def test_oversized_length_rejected_from_the_header_alone() -> None:
    decoder = FrameDecoder(pb.ResponseFrame)
    assert decoder.feed(b"\x00\x40") == []
    with pytest.raises(FrameTooLarge) as raised:
        decoder.feed(b"\x00\x01")
    assert raised.value.length == DEFAULT_MAX_FRAME_SIZE + 1
    assert raised.value.max_frame_size == DEFAULT_MAX_FRAME_SIZE
    assert "4194305" in str(raised.value) and "4194304" in str(raised.value)


def test_oversized_frame_payload_is_never_buffered() -> None:
    decoder = FrameDecoder(pb.ResponseFrame, max_frame_size=1024)
    with pytest.raises(FrameTooLarge):
        decoder.feed((2048).to_bytes(4, "big") + b"\x00" * 2048)
    assert decoder.buffered == 0


def test_limit_applies_to_every_frame_of_the_stream() -> None:
    decoder = FrameDecoder(pb.ResponseFrame, max_frame_size=64)
    assert decoder.feed(encode_frame(_response(1))) == [_response(1)]
    with pytest.raises(FrameTooLarge):
        decoder.feed((65).to_bytes(4, "big"))


def test_exactly_the_maximum_is_accepted() -> None:
    frame = pb.ResponseFrame(call_id=1, status=pb.Status(code=pb.INTERNAL, message="x" * 100))
    size = len(frame.SerializeToString())
    assert FrameDecoder(pb.ResponseFrame, max_frame_size=size).feed(encode_frame(frame)) == [frame]
    with pytest.raises(FrameTooLarge):
        FrameDecoder(pb.ResponseFrame, max_frame_size=size - 1).feed(encode_frame(frame))


def test_encode_refuses_a_frame_the_peer_would_reject() -> None:
    with pytest.raises(FrameTooLarge):
        encode_frame(pb.BackupRequest(path="p" * 100), max_frame_size=50)


def test_errors_are_sticky() -> None:
    decoder = FrameDecoder(pb.ResponseFrame)
    with pytest.raises(FrameDecodeError) as first:
        decoder.feed(bytes.fromhex("00000003ffffff"))
    with pytest.raises(FrameDecodeError) as again:
        decoder.feed(encode_frame(_response(1)))
    assert again.value is first.value
    with pytest.raises(FrameDecodeError):
        decoder.eof()


@pytest.mark.parametrize(
    ("data", "detail"),
    [(b"\x00\x00", "2 of 4 length-prefix bytes"), (b"\x00\x00\x00\x05\x08", "1 of 5 payload bytes")],
)
def test_truncated_stream_reported_at_eof(data: bytes, detail: str) -> None:
    decoder = FrameDecoder(pb.ResponseFrame)
    assert decoder.feed(data) == []
    with pytest.raises(TruncatedFrame, match=detail):
        decoder.eof()


def test_clean_eof_between_frames() -> None:
    decoder = FrameDecoder(pb.ResponseFrame)
    decoder.feed(encode_frame(_response(1)))
    decoder.eof()


def test_garbage_payload_names_the_type_and_size() -> None:
    with pytest.raises(FrameDecodeError, match=r"3-byte frame is not a valid roster\.v1\.RequestFrame"):
        FrameDecoder(pb.RequestFrame).feed(bytes.fromhex("00000003ffffff"))


def test_random_garbage_only_ever_raises_frame_errors() -> None:
    """Bounded fuzz: 2000 seeded random streams, fed in random chunks, small limit."""
    for seed in range(2000):
        rng = random.Random(seed)
        data = rng.randbytes(rng.randrange(0, 200))
        decoder = FrameDecoder(pb.ResponseFrame, max_frame_size=64)
        pos = 0
        try:
            while pos < len(data):
                step = rng.randrange(1, 17)
                for message in decoder.feed(data[pos : pos + step]):
                    assert isinstance(message, pb.ResponseFrame)
                pos += step
            decoder.eof()
        except FrameError:
            assert decoder.buffered == 0


def test_max_frame_size_must_fit_the_length_prefix() -> None:
    with pytest.raises(ValueError):
        FrameDecoder(pb.ResponseFrame, max_frame_size=1 << 32)
