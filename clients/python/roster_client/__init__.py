"""Python client for rosterd, the Roster SCIM directory-sync sidecar.

- ``RosterClient``: blocking client (``roster_client.client``).
- ``AsyncRosterClient``: asyncio client (``roster_client.aio``).
- ``FrameDecoder`` / ``encode_frame``: the sans-I/O frame codec (``roster_client.frame``).
- ``roster_pb2``: the generated messages of proto/roster/v1/roster.proto.
- ``roster_client.testing``: a pytest harness that runs a real rosterd.
"""

from . import roster_pb2
from .aio import AsyncRosterClient, AsyncWatchStream
from .client import DEFAULT, RosterClient, WatchStream
from .errors import (
    Aborted,
    AlreadyExists,
    Cancelled,
    DataLoss,
    DeadlineExceeded,
    FailedPrecondition,
    Internal,
    InvalidArgument,
    NotFound,
    OutOfRange,
    PermissionDenied,
    ResourceExhausted,
    RosterError,
    Unauthenticated,
    Unavailable,
    Unimplemented,
    Unknown,
)
from .frame import (
    DEFAULT_MAX_FRAME_SIZE,
    FrameDecodeError,
    FrameDecoder,
    FrameError,
    FrameTooLarge,
    TruncatedFrame,
    encode_frame,
)
from .refs import group_ref, user_ref

__version__ = "0.1.0"

__all__ = [
    "DEFAULT",
    "DEFAULT_MAX_FRAME_SIZE",
    "Aborted",
    "AlreadyExists",
    "AsyncRosterClient",
    "AsyncWatchStream",
    "Cancelled",
    "DataLoss",
    "DeadlineExceeded",
    "FailedPrecondition",
    "FrameDecodeError",
    "FrameDecoder",
    "FrameError",
    "FrameTooLarge",
    "Internal",
    "InvalidArgument",
    "NotFound",
    "OutOfRange",
    "PermissionDenied",
    "ResourceExhausted",
    "RosterClient",
    "RosterError",
    "TruncatedFrame",
    "Unauthenticated",
    "Unavailable",
    "Unimplemented",
    "Unknown",
    "WatchStream",
    "encode_frame",
    "group_ref",
    "roster_pb2",
    "user_ref",
]
