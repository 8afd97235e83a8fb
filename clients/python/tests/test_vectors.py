"""The shared frame vectors (proto/testdata/vectors.json) against the Python codec."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format

from roster_client import roster_pb2 as pb
from roster_client.frame import FrameDecodeError, FrameDecoder, FrameTooLarge, TruncatedFrame, encode_frame

REPO = Path(__file__).resolve().parents[3]
VECTORS = REPO / "proto" / "testdata" / "vectors.json"
TYPES = {"roster.v1.RequestFrame": pb.RequestFrame, "roster.v1.ResponseFrame": pb.ResponseFrame}


_DOCUMENT = json.loads(VECTORS.read_text())
VALID = _DOCUMENT["valid"]
INVALID = _DOCUMENT["invalid"]


def test_vector_set_covers_the_required_cases() -> None:
    names = {v["name"] for v in VALID}
    for required in (
        "check_request",
        "batch_check_request",
        "error_not_found",
        "watch_end_of_stream_ok",
        "empty_request_frame",
        "unicode_check_request",
    ):
        assert required in names
    assert {v["error"] for v in INVALID} == {"frame_too_large", "truncated", "decode_error"}


@pytest.mark.parametrize("vector", VALID, ids=lambda v: v["name"])
def test_encode_matches_vector_bytes(vector: dict[str, Any]) -> None:
    message = json_format.ParseDict(vector["message"], TYPES[vector["type"]]())
    assert encode_frame(message).hex() == vector["hex"]


@pytest.mark.parametrize("vector", VALID, ids=lambda v: v["name"])
def test_decode_matches_vector_message(vector: dict[str, Any]) -> None:
    decoder = FrameDecoder(TYPES[vector["type"]])
    (message,) = decoder.feed(bytes.fromhex(vector["hex"]))
    assert json_format.MessageToDict(message) == vector["message"]
    assert decoder.buffered == 0
    decoder.eof()


@pytest.mark.parametrize("type_name", sorted(TYPES))
def test_all_vectors_of_a_type_drip_fed_one_byte_at_a_time(type_name: str) -> None:
    selected = [v for v in VALID if v["type"] == type_name]
    stream = b"".join(bytes.fromhex(v["hex"]) for v in selected)
    decoder = FrameDecoder(TYPES[type_name])
    decoded = []
    for i in range(len(stream)):
        decoded.extend(decoder.feed(stream[i : i + 1]))
    assert [json_format.MessageToDict(m) for m in decoded] == [v["message"] for v in selected]


@pytest.mark.parametrize("vector", INVALID, ids=lambda v: v["name"])
def test_invalid_vector_is_rejected(vector: dict[str, Any]) -> None:
    decoder = FrameDecoder(TYPES[vector["type"]], max_frame_size=vector["max_frame_size"])
    data = bytes.fromhex(vector["hex"])
    expected = {"frame_too_large": FrameTooLarge, "decode_error": FrameDecodeError, "truncated": TruncatedFrame}
    with pytest.raises(expected[vector["error"]]):
        assert decoder.feed(data) == []
        decoder.eof()


def test_vectors_txt_is_in_sync_with_vectors_json() -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "proto" / "testdata" / "make-vectors"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
