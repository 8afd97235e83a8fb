"""Typed errors: one exception class per status code (gRPC's names and numbers).

Errors the server reports arrive as a Status and become the matching subclass.
The clients raise the same classes for local failures, as gRPC clients do:
``Unavailable`` when the daemon cannot be reached or the connection drops,
``DeadlineExceeded`` when the local deadline passes, ``Internal`` when the
server's bytes violate the protocol.
"""

from __future__ import annotations

from . import roster_pb2 as pb

__all__ = [
    "Aborted",
    "AlreadyExists",
    "Cancelled",
    "DataLoss",
    "DeadlineExceeded",
    "FailedPrecondition",
    "Internal",
    "InvalidArgument",
    "NotFound",
    "OutOfRange",
    "PermissionDenied",
    "ResourceExhausted",
    "RosterError",
    "Unauthenticated",
    "Unavailable",
    "Unimplemented",
    "Unknown",
    "error_from_status",
]


class RosterError(Exception):
    """A call failed. ``code`` is the status code's name, e.g. ``"NOT_FOUND"``."""

    code: str = "UNKNOWN"

    def __init__(self, message: str, *, call_id: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.call_id = call_id

    @property
    def code_value(self) -> int:
        """The numeric status code (gRPC's numbering)."""
        return pb.Code.Value(self.code)

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class Cancelled(RosterError):
    code = "CANCELLED"


class Unknown(RosterError):
    code = "UNKNOWN"


class InvalidArgument(RosterError):
    code = "INVALID_ARGUMENT"


class DeadlineExceeded(RosterError):
    code = "DEADLINE_EXCEEDED"


class NotFound(RosterError):
    code = "NOT_FOUND"


class AlreadyExists(RosterError):
    code = "ALREADY_EXISTS"


class PermissionDenied(RosterError):
    code = "PERMISSION_DENIED"


class ResourceExhausted(RosterError):
    code = "RESOURCE_EXHAUSTED"


class FailedPrecondition(RosterError):
    code = "FAILED_PRECONDITION"


class Aborted(RosterError):
    code = "ABORTED"


class OutOfRange(RosterError):
    code = "OUT_OF_RANGE"


class Unimplemented(RosterError):
    code = "UNIMPLEMENTED"


class Internal(RosterError):
    code = "INTERNAL"


class Unavailable(RosterError):
    code = "UNAVAILABLE"


class DataLoss(RosterError):
    code = "DATA_LOSS"


class Unauthenticated(RosterError):
    code = "UNAUTHENTICATED"


_BY_CODE: dict[int, type[RosterError]] = {
    pb.Code.Value(cls.code): cls
    for cls in (
        Cancelled,
        Unknown,
        InvalidArgument,
        DeadlineExceeded,
        NotFound,
        AlreadyExists,
        PermissionDenied,
        ResourceExhausted,
        FailedPrecondition,
        Aborted,
        OutOfRange,
        Unimplemented,
        Internal,
        Unavailable,
        DataLoss,
        Unauthenticated,
    )
}


def error_from_status(status: pb.Status, call_id: int | None = None) -> RosterError:
    """The exception for a non-OK Status; codes this client does not know become Unknown."""
    cls = _BY_CODE.get(status.code)
    if cls is None:
        return Unknown(f"status code {status.code}: {status.message}", call_id=call_id)
    return cls(status.message, call_id=call_id)
