"""User and group references, shared by the blocking and the asyncio client.

Users and groups can be named three ways each (docs/PROTOCOL.md, "References").
The clients take the common one positionally — a user's ``userName``, a
group's ``displayName`` — and the others as keywords, or a ready-made
UserRef/GroupRef.
"""

from __future__ import annotations

from collections.abc import Iterable

from . import roster_pb2 as pb

__all__ = ["GroupLike", "UserLike", "group_ref", "user_ref"]

#: A userName, or a UserRef naming the user any way.
UserLike = str | pb.UserRef
#: A displayName, or a GroupRef naming the group any way.
GroupLike = str | pb.GroupRef


def user_ref(user: UserLike | None = None, *, user_id: str | None = None, user_external_id: str | None = None) -> pb.UserRef:
    """A UserRef from exactly one of: userName (or UserRef), SCIM id, externalId."""
    given = [name for name, value in (("user", user), ("user_id", user_id), ("user_external_id", user_external_id)) if value is not None]
    if len(given) != 1:
        raise ValueError(f"name the user with exactly one of user=, user_id=, user_external_id= (got {given or 'none'})")
    if isinstance(user, pb.UserRef):
        return user
    if user is not None:
        return pb.UserRef(user_name=user)
    if user_id is not None:
        return pb.UserRef(id=user_id)
    return pb.UserRef(external_id=user_external_id)


def group_ref(group: GroupLike | None = None, *, group_id: str | None = None, group_external_id: str | None = None) -> pb.GroupRef:
    """A GroupRef from exactly one of: displayName (or GroupRef), SCIM id, externalId."""
    given = [name for name, value in (("group", group), ("group_id", group_id), ("group_external_id", group_external_id)) if value is not None]
    if len(given) != 1:
        raise ValueError(f"name the group with exactly one of group=, group_id=, group_external_id= (got {given or 'none'})")
    if isinstance(group, pb.GroupRef):
        return group
    if group is not None:
        return pb.GroupRef(display_name=group)
    if group_id is not None:
        return pb.GroupRef(id=group_id)
    return pb.GroupRef(external_id=group_external_id)


def check_items(checks: Iterable[tuple[UserLike, GroupLike]]) -> list[pb.CheckItem]:
    """CheckItems from (user, group) pairs, each a name or a ref as in ``user_ref``/``group_ref``."""
    return [pb.CheckItem(user=user_ref(user), group=group_ref(group)) for user, group in checks]
