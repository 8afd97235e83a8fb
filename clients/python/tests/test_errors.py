"""Status codes map to the typed exceptions, with gRPC's names and numbers."""

from __future__ import annotations

import pytest

import roster_client
from roster_client import roster_pb2 as pb
from roster_client.errors import RosterError, Unknown, error_from_status


@pytest.mark.parametrize("code", [c for c in pb.Code.values() if c != pb.OK])
def test_every_error_code_has_its_own_class(code: int) -> None:
    error = error_from_status(pb.Status(code=code, message="why"), call_id=3)
    name = pb.Code.Name(code)
    assert (error.code, error.code_value, error.message, error.call_id) == (name, code, "why", 3)
    class_name = "".join(part.capitalize() for part in name.split("_"))
    assert type(error) is getattr(roster_client, class_name)
    assert isinstance(error, RosterError)


def test_grpc_numbering() -> None:
    assert pb.Code.Value("UNAUTHENTICATED") == 16 and pb.Code.Value("DEADLINE_EXCEEDED") == 4


def test_unknown_future_code_is_unknown_with_the_number() -> None:
    error = error_from_status(pb.Status(code=42, message="new"))
    assert type(error) is Unknown and "status code 42: new" in str(error)
