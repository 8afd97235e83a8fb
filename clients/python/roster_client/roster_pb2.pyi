from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Iterable as _Iterable, Mapping as _Mapping, Optional as _Optional, Union as _Union

ABORTED: Code
ACTIVE: UserState
ALREADY_EXISTS: Code
CANCELLED: Code
DATA_LOSS: Code
DEADLINE_EXCEEDED: Code
DELETED: UserState
DESCRIPTOR: _descriptor.FileDescriptor
FAILED_PRECONDITION: Code
GROUP_UNKNOWN: Reason
INTERNAL: Code
INVALID_ARGUMENT: Code
MEMBER: Reason
NOT_FOUND: Code
NOT_MEMBER: Reason
OK: Code
OUT_OF_RANGE: Code
PERMISSION_DENIED: Code
REASON_UNSPECIFIED: Reason
RESOURCE_EXHAUSTED: Code
SUSPENDED: UserState
UNAUTHENTICATED: Code
UNAVAILABLE: Code
UNIMPLEMENTED: Code
UNKNOWN: Code
USER_DELETED: Reason
USER_STATE_UNSPECIFIED: UserState
USER_SUSPENDED: Reason
USER_UNKNOWN: Reason

class AuditRecord(_message.Message):
    __slots__ = ["detail", "directory_id", "duration_us", "http_status", "method", "outcome", "path", "revision", "time_unix_ms"]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    DIRECTORY_ID_FIELD_NUMBER: _ClassVar[int]
    DURATION_US_FIELD_NUMBER: _ClassVar[int]
    HTTP_STATUS_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    TIME_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    detail: str
    directory_id: str
    duration_us: int
    http_status: int
    method: str
    outcome: str
    path: str
    revision: int
    time_unix_ms: int
    def __init__(self, revision: _Optional[int] = ..., time_unix_ms: _Optional[int] = ..., directory_id: _Optional[str] = ..., method: _Optional[str] = ..., path: _Optional[str] = ..., http_status: _Optional[int] = ..., outcome: _Optional[str] = ..., detail: _Optional[str] = ..., duration_us: _Optional[int] = ...) -> None: ...

class AuditRequest(_message.Message):
    __slots__ = ["directory_id", "limit", "since_unix_ms"]
    DIRECTORY_ID_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    SINCE_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    directory_id: str
    limit: int
    since_unix_ms: int
    def __init__(self, directory_id: _Optional[str] = ..., since_unix_ms: _Optional[int] = ..., limit: _Optional[int] = ...) -> None: ...

class AuditResponse(_message.Message):
    __slots__ = ["records"]
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    records: _containers.RepeatedCompositeFieldContainer[AuditRecord]
    def __init__(self, records: _Optional[_Iterable[_Union[AuditRecord, _Mapping]]] = ...) -> None: ...

class BackupRequest(_message.Message):
    __slots__ = ["path"]
    PATH_FIELD_NUMBER: _ClassVar[int]
    path: str
    def __init__(self, path: _Optional[str] = ...) -> None: ...

class BackupResponse(_message.Message):
    __slots__ = ["bytes", "path", "revision"]
    BYTES_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    bytes: int
    path: str
    revision: int
    def __init__(self, path: _Optional[str] = ..., bytes: _Optional[int] = ..., revision: _Optional[int] = ...) -> None: ...

class BatchCheckRequest(_message.Message):
    __slots__ = ["checks", "directory_id", "min_revision"]
    CHECKS_FIELD_NUMBER: _ClassVar[int]
    DIRECTORY_ID_FIELD_NUMBER: _ClassVar[int]
    MIN_REVISION_FIELD_NUMBER: _ClassVar[int]
    checks: _containers.RepeatedCompositeFieldContainer[CheckItem]
    directory_id: str
    min_revision: int
    def __init__(self, directory_id: _Optional[str] = ..., checks: _Optional[_Iterable[_Union[CheckItem, _Mapping]]] = ..., min_revision: _Optional[int] = ...) -> None: ...

class BatchCheckResponse(_message.Message):
    __slots__ = ["results", "revision"]
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[CheckResult]
    revision: int
    def __init__(self, results: _Optional[_Iterable[_Union[CheckResult, _Mapping]]] = ..., revision: _Optional[int] = ...) -> None: ...

class CancelRequest(_message.Message):
    __slots__ = ["target_call_id"]
    TARGET_CALL_ID_FIELD_NUMBER: _ClassVar[int]
    target_call_id: int
    def __init__(self, target_call_id: _Optional[int] = ...) -> None: ...

class CancelResponse(_message.Message):
    __slots__ = []
    def __init__(self) -> None: ...

class CheckItem(_message.Message):
    __slots__ = ["group", "user"]
    GROUP_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    group: GroupRef
    user: UserRef
    def __init__(self, user: _Optional[_Union[UserRef, _Mapping]] = ..., group: _Optional[_Union[GroupRef, _Mapping]] = ...) -> None: ...

class CheckRequest(_message.Message):
    __slots__ = ["directory_id", "group", "min_revision", "user"]
    DIRECTORY_ID_FIELD_NUMBER: _ClassVar[int]
    GROUP_FIELD_NUMBER: _ClassVar[int]
    MIN_REVISION_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    directory_id: str
    group: GroupRef
    min_revision: int
    user: UserRef
    def __init__(self, directory_id: _Optional[str] = ..., user: _Optional[_Union[UserRef, _Mapping]] = ..., group: _Optional[_Union[GroupRef, _Mapping]] = ..., min_revision: _Optional[int] = ...) -> None: ...

class CheckResponse(_message.Message):
    __slots__ = ["allowed", "reason", "revision"]
    ALLOWED_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    allowed: bool
    reason: Reason
    revision: int
    def __init__(self, allowed: bool = ..., reason: _Optional[_Union[Reason, str]] = ..., revision: _Optional[int] = ...) -> None: ...

class CheckResult(_message.Message):
    __slots__ = ["allowed", "error", "reason"]
    ALLOWED_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    allowed: bool
    error: Status
    reason: Reason
    def __init__(self, allowed: bool = ..., reason: _Optional[_Union[Reason, str]] = ..., error: _Optional[_Union[Status, _Mapping]] = ...) -> None: ...

class CreateDirectoryRequest(_message.Message):
    __slots__ = ["name", "policy", "provider"]
    NAME_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    name: str
    policy: str
    provider: str
    def __init__(self, name: _Optional[str] = ..., provider: _Optional[str] = ..., policy: _Optional[str] = ...) -> None: ...

class CreateDirectoryResponse(_message.Message):
    __slots__ = ["directory", "scim_base_url", "token"]
    DIRECTORY_FIELD_NUMBER: _ClassVar[int]
    SCIM_BASE_URL_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    directory: Directory
    scim_base_url: str
    token: str
    def __init__(self, directory: _Optional[_Union[Directory, _Mapping]] = ..., scim_base_url: _Optional[str] = ..., token: _Optional[str] = ...) -> None: ...

class DeleteDirectoryRequest(_message.Message):
    __slots__ = ["directory_id"]
    DIRECTORY_ID_FIELD_NUMBER: _ClassVar[int]
    directory_id: str
    def __init__(self, directory_id: _Optional[str] = ...) -> None: ...

class DeleteDirectoryResponse(_message.Message):
    __slots__ = ["revision"]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    revision: int
    def __init__(self, revision: _Optional[int] = ...) -> None: ...

class DeleteGroupRequest(_message.Message):
    __slots__ = ["directory_id", "group"]
    DIRECTORY_ID_FIELD_NUMBER: _ClassVar[int]
    GROUP_FIELD_NUMBER: _ClassVar[int]
    directory_id: str
    group: GroupRef
    def __init__(self, directory_id: _Optional[str] = ..., group: _Optional[_Union[GroupRef, _Mapping]] = ...) -> None: ...

class DeleteGroupResponse(_message.Message):
    __slots__ = ["memberships_removed", "revision"]
    MEMBERSHIPS_REMOVED_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    memberships_removed: int
    revision: int
    def __init__(self, revision: _Optional[int] = ..., memberships_removed: _Optional[int] = ...) -> None: ...

class Directory(_message.Message):
    __slots__ = ["created_unix_ms", "groups", "id", "memberships", "name", "policy", "provider", "users"]
    CREATED_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    MEMBERSHIPS_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    USERS_FIELD_NUMBER: _ClassVar[int]
    created_unix_ms: int
    groups: int
    id: str
    memberships: int
    name: str
    policy: str
    provider: str
    users: int
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., provider: _Optional[str] = ..., policy: _Optional[str] = ..., created_unix_ms: _Optional[int] = ..., users: _Optional[int] = ..., groups: _Optional[int] = ..., memberships: _Optional[int] = ...) -> None: ...

class FleetInstance(_message.Message):
    __slots__ = ["applied_revision", "lag_revisions", "last_seen_unix_ms", "name", "pid"]
    APPLIED_REVISION_FIELD_NUMBER: _ClassVar[int]
    LAG_REVISIONS_FIELD_NUMBER: _ClassVar[int]
    LAST_SEEN_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    PID_FIELD_NUMBER: _ClassVar[int]
    applied_revision: int
    lag_revisions: int
    last_seen_unix_ms: int
    name: str
    pid: int
    def __init__(self, name: _Optional[str] = ..., pid: _Optional[int] = ..., applied_revision: _Optional[int] = ..., lag_revisions: _Optional[int] = ..., last_seen_unix_ms: _Optional[int] = ...) -> None: ...

class FleetStatusRequest(_message.Message):
    __slots__ = []
    def __init__(self) -> None: ...

class FleetStatusResponse(_message.Message):
    __slots__ = ["head_revision", "instances"]
    HEAD_REVISION_FIELD_NUMBER: _ClassVar[int]
    INSTANCES_FIELD_NUMBER: _ClassVar[int]
    head_revision: int
    instances: _containers.RepeatedCompositeFieldContainer[FleetInstance]
    def __init__(self, head_revision: _Optional[int] = ..., instances: _Optional[_Iterable[_Union[FleetInstance, _Mapping]]] = ...) -> None: ...

class GetGroupRequest(_message.Message):
    __slots__ = ["directory_id", "group", "min_revision"]
    DIRECTORY_ID_FIELD_NUMBER: _ClassVar[int]
    GROUP_FIELD_NUMBER: _ClassVar[int]
    MIN_REVISION_FIELD_NUMBER: _ClassVar[int]
    directory_id: str
    group: GroupRef
    min_revision: int
    def __init__(self, directory_id: _Optional[str] = ..., group: _Optional[_Union[GroupRef, _Mapping]] = ..., min_revision: _Optional[int] = ...) -> None: ...

class GetGroupResponse(_message.Message):
    __slots__ = ["group", "revision"]
    GROUP_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    group: GroupDetail
    revision: int
    def __init__(self, group: _Optional[_Union[GroupDetail, _Mapping]] = ..., revision: _Optional[int] = ...) -> None: ...

class GetUserRequest(_message.Message):
    __slots__ = ["directory_id", "min_revision", "user"]
    DIRECTORY_ID_FIELD_NUMBER: _ClassVar[int]
    MIN_REVISION_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    directory_id: str
    min_revision: int
    user: UserRef
    def __init__(self, directory_id: _Optional[str] = ..., user: _Optional[_Union[UserRef, _Mapping]] = ..., min_revision: _Optional[int] = ...) -> None: ...

class GetUserResponse(_message.Message):
    __slots__ = ["revision", "user"]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    revision: int
    user: UserDetail
    def __init__(self, user: _Optional[_Union[UserDetail, _Mapping]] = ..., revision: _Optional[int] = ...) -> None: ...

class GroupDetail(_message.Message):
    __slots__ = ["display_name", "external_id", "id", "member_count", "resource_json", "version"]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    EXTERNAL_ID_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    MEMBER_COUNT_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_JSON_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    display_name: str
    external_id: str
    id: str
    member_count: int
    resource_json: str
    version: int
    def __init__(self, id: _Optional[str] = ..., display_name: _Optional[str] = ..., external_id: _Optional[str] = ..., member_count: _Optional[int] = ..., resource_json: _Optional[str] = ..., version: _Optional[int] = ...) -> None: ...

class GroupRef(_message.Message):
    __slots__ = ["display_name", "external_id", "id"]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    EXTERNAL_ID_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    display_name: str
    external_id: str
    id: str
    def __init__(self, id: _Optional[str] = ..., external_id: _Optional[str] = ..., display_name: _Optional[str] = ...) -> None: ...

class GroupSummary(_message.Message):
    __slots__ = ["display_name", "external_id", "id", "member_count"]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    EXTERNAL_ID_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    MEMBER_COUNT_FIELD_NUMBER: _ClassVar[int]
    display_name: str
    external_id: str
    id: str
    member_count: int
    def __init__(self, id: _Optional[str] = ..., display_name: _Optional[str] = ..., external_id: _Optional[str] = ..., member_count: _Optional[int] = ...) -> None: ...

class HealthRequest(_message.Message):
    __slots__ = []
    def __init__(self) -> None: ...

class HealthResponse(_message.Message):
    __slots__ = ["revision", "staleness_seconds", "status"]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    STALENESS_SECONDS_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    revision: int
    staleness_seconds: float
    status: str
    def __init__(self, status: _Optional[str] = ..., revision: _Optional[int] = ..., staleness_seconds: _Optional[float] = ...) -> None: ...

class ListDirectoriesRequest(_message.Message):
    __slots__ = []
    def __init__(self) -> None: ...

class ListDirectoriesResponse(_message.Message):
    __slots__ = ["directories"]
    DIRECTORIES_FIELD_NUMBER: _ClassVar[int]
    directories: _containers.RepeatedCompositeFieldContainer[Directory]
    def __init__(self, directories: _Optional[_Iterable[_Union[Directory, _Mapping]]] = ...) -> None: ...

class ListGroupMembersRequest(_message.Message):
    __slots__ = ["directory_id", "group", "min_revision", "page_size", "page_token"]
    DIRECTORY_ID_FIELD_NUMBER: _ClassVar[int]
    GROUP_FIELD_NUMBER: _ClassVar[int]
    MIN_REVISION_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    directory_id: str
    group: GroupRef
    min_revision: int
    page_size: int
    page_token: str
    def __init__(self, directory_id: _Optional[str] = ..., group: _Optional[_Union[GroupRef, _Mapping]] = ..., min_revision: _Optional[int] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListGroupMembersResponse(_message.Message):
    __slots__ = ["members", "next_page_token", "revision"]
    MEMBERS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    members: _containers.RepeatedCompositeFieldContainer[UserSummary]
    next_page_token: str
    revision: int
    def __init__(self, members: _Optional[_Iterable[_Union[UserSummary, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., revision: _Optional[int] = ...) -> None: ...

class ListUserGroupsRequest(_message.Message):
    __slots__ = ["directory_id", "min_revision", "page_size", "page_token", "user"]
    DIRECTORY_ID_FIELD_NUMBER: _ClassVar[int]
    MIN_REVISION_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    directory_id: str
    min_revision: int
    page_size: int
    page_token: str
    user: UserRef
    def __init__(self, directory_id: _Optional[str] = ..., user: _Optional[_Union[UserRef, _Mapping]] = ..., min_revision: _Optional[int] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListUserGroupsResponse(_message.Message):
    __slots__ = ["groups", "next_page_token", "revision"]
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    groups: _containers.RepeatedCompositeFieldContainer[GroupSummary]
    next_page_token: str
    revision: int
    def __init__(self, groups: _Optional[_Iterable[_Union[GroupSummary, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., revision: _Optional[int] = ...) -> None: ...

class RequestFrame(_message.Message):
    __slots__ = ["audit", "backup", "batch_check", "call_id", "cancel", "check", "create_directory", "delete_directory", "delete_group", "fleet_status", "get_group", "get_user", "health", "list_directories", "list_group_members", "list_user_groups", "rotate_token", "stats", "timeout_ms", "verify", "watch"]
    AUDIT_FIELD_NUMBER: _ClassVar[int]
    BACKUP_FIELD_NUMBER: _ClassVar[int]
    BATCH_CHECK_FIELD_NUMBER: _ClassVar[int]
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    CANCEL_FIELD_NUMBER: _ClassVar[int]
    CHECK_FIELD_NUMBER: _ClassVar[int]
    CREATE_DIRECTORY_FIELD_NUMBER: _ClassVar[int]
    DELETE_DIRECTORY_FIELD_NUMBER: _ClassVar[int]
    DELETE_GROUP_FIELD_NUMBER: _ClassVar[int]
    FLEET_STATUS_FIELD_NUMBER: _ClassVar[int]
    GET_GROUP_FIELD_NUMBER: _ClassVar[int]
    GET_USER_FIELD_NUMBER: _ClassVar[int]
    HEALTH_FIELD_NUMBER: _ClassVar[int]
    LIST_DIRECTORIES_FIELD_NUMBER: _ClassVar[int]
    LIST_GROUP_MEMBERS_FIELD_NUMBER: _ClassVar[int]
    LIST_USER_GROUPS_FIELD_NUMBER: _ClassVar[int]
    ROTATE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    STATS_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_MS_FIELD_NUMBER: _ClassVar[int]
    VERIFY_FIELD_NUMBER: _ClassVar[int]
    WATCH_FIELD_NUMBER: _ClassVar[int]
    audit: AuditRequest
    backup: BackupRequest
    batch_check: BatchCheckRequest
    call_id: int
    cancel: CancelRequest
    check: CheckRequest
    create_directory: CreateDirectoryRequest
    delete_directory: DeleteDirectoryRequest
    delete_group: DeleteGroupRequest
    fleet_status: FleetStatusRequest
    get_group: GetGroupRequest
    get_user: GetUserRequest
    health: HealthRequest
    list_directories: ListDirectoriesRequest
    list_group_members: ListGroupMembersRequest
    list_user_groups: ListUserGroupsRequest
    rotate_token: RotateTokenRequest
    stats: StatsRequest
    timeout_ms: int
    verify: VerifyRequest
    watch: WatchRequest
    def __init__(self, call_id: _Optional[int] = ..., timeout_ms: _Optional[int] = ..., check: _Optional[_Union[CheckRequest, _Mapping]] = ..., batch_check: _Optional[_Union[BatchCheckRequest, _Mapping]] = ..., list_user_groups: _Optional[_Union[ListUserGroupsRequest, _Mapping]] = ..., list_group_members: _Optional[_Union[ListGroupMembersRequest, _Mapping]] = ..., get_user: _Optional[_Union[GetUserRequest, _Mapping]] = ..., get_group: _Optional[_Union[GetGroupRequest, _Mapping]] = ..., watch: _Optional[_Union[WatchRequest, _Mapping]] = ..., cancel: _Optional[_Union[CancelRequest, _Mapping]] = ..., health: _Optional[_Union[HealthRequest, _Mapping]] = ..., stats: _Optional[_Union[StatsRequest, _Mapping]] = ..., create_directory: _Optional[_Union[CreateDirectoryRequest, _Mapping]] = ..., list_directories: _Optional[_Union[ListDirectoriesRequest, _Mapping]] = ..., rotate_token: _Optional[_Union[RotateTokenRequest, _Mapping]] = ..., delete_directory: _Optional[_Union[DeleteDirectoryRequest, _Mapping]] = ..., delete_group: _Optional[_Union[DeleteGroupRequest, _Mapping]] = ..., verify: _Optional[_Union[VerifyRequest, _Mapping]] = ..., backup: _Optional[_Union[BackupRequest, _Mapping]] = ..., audit: _Optional[_Union[AuditRequest, _Mapping]] = ..., fleet_status: _Optional[_Union[FleetStatusRequest, _Mapping]] = ...) -> None: ...

class ResponseFrame(_message.Message):
    __slots__ = ["audit", "backup", "batch_check", "call_id", "cancel", "check", "create_directory", "delete_directory", "delete_group", "end_of_stream", "event", "fleet_status", "get_group", "get_user", "health", "list_directories", "list_group_members", "list_user_groups", "rotate_token", "stats", "status", "verify"]
    AUDIT_FIELD_NUMBER: _ClassVar[int]
    BACKUP_FIELD_NUMBER: _ClassVar[int]
    BATCH_CHECK_FIELD_NUMBER: _ClassVar[int]
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    CANCEL_FIELD_NUMBER: _ClassVar[int]
    CHECK_FIELD_NUMBER: _ClassVar[int]
    CREATE_DIRECTORY_FIELD_NUMBER: _ClassVar[int]
    DELETE_DIRECTORY_FIELD_NUMBER: _ClassVar[int]
    DELETE_GROUP_FIELD_NUMBER: _ClassVar[int]
    END_OF_STREAM_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    FLEET_STATUS_FIELD_NUMBER: _ClassVar[int]
    GET_GROUP_FIELD_NUMBER: _ClassVar[int]
    GET_USER_FIELD_NUMBER: _ClassVar[int]
    HEALTH_FIELD_NUMBER: _ClassVar[int]
    LIST_DIRECTORIES_FIELD_NUMBER: _ClassVar[int]
    LIST_GROUP_MEMBERS_FIELD_NUMBER: _ClassVar[int]
    LIST_USER_GROUPS_FIELD_NUMBER: _ClassVar[int]
    ROTATE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    STATS_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    VERIFY_FIELD_NUMBER: _ClassVar[int]
    audit: AuditResponse
    backup: BackupResponse
    batch_check: BatchCheckResponse
    call_id: int
    cancel: CancelResponse
    check: CheckResponse
    create_directory: CreateDirectoryResponse
    delete_directory: DeleteDirectoryResponse
    delete_group: DeleteGroupResponse
    end_of_stream: bool
    event: WatchEvent
    fleet_status: FleetStatusResponse
    get_group: GetGroupResponse
    get_user: GetUserResponse
    health: HealthResponse
    list_directories: ListDirectoriesResponse
    list_group_members: ListGroupMembersResponse
    list_user_groups: ListUserGroupsResponse
    rotate_token: RotateTokenResponse
    stats: StatsResponse
    status: Status
    verify: VerifyResponse
    def __init__(self, call_id: _Optional[int] = ..., status: _Optional[_Union[Status, _Mapping]] = ..., check: _Optional[_Union[CheckResponse, _Mapping]] = ..., batch_check: _Optional[_Union[BatchCheckResponse, _Mapping]] = ..., list_user_groups: _Optional[_Union[ListUserGroupsResponse, _Mapping]] = ..., list_group_members: _Optional[_Union[ListGroupMembersResponse, _Mapping]] = ..., get_user: _Optional[_Union[GetUserResponse, _Mapping]] = ..., get_group: _Optional[_Union[GetGroupResponse, _Mapping]] = ..., event: _Optional[_Union[WatchEvent, _Mapping]] = ..., cancel: _Optional[_Union[CancelResponse, _Mapping]] = ..., health: _Optional[_Union[HealthResponse, _Mapping]] = ..., stats: _Optional[_Union[StatsResponse, _Mapping]] = ..., create_directory: _Optional[_Union[CreateDirectoryResponse, _Mapping]] = ..., list_directories: _Optional[_Union[ListDirectoriesResponse, _Mapping]] = ..., rotate_token: _Optional[_Union[RotateTokenResponse, _Mapping]] = ..., delete_directory: _Optional[_Union[DeleteDirectoryResponse, _Mapping]] = ..., delete_group: _Optional[_Union[DeleteGroupResponse, _Mapping]] = ..., verify: _Optional[_Union[VerifyResponse, _Mapping]] = ..., backup: _Optional[_Union[BackupResponse, _Mapping]] = ..., audit: _Optional[_Union[AuditResponse, _Mapping]] = ..., fleet_status: _Optional[_Union[FleetStatusResponse, _Mapping]] = ..., end_of_stream: bool = ...) -> None: ...

class RotateTokenRequest(_message.Message):
    __slots__ = ["directory_id"]
    DIRECTORY_ID_FIELD_NUMBER: _ClassVar[int]
    directory_id: str
    def __init__(self, directory_id: _Optional[str] = ...) -> None: ...

class RotateTokenResponse(_message.Message):
    __slots__ = ["live_tokens", "token"]
    LIVE_TOKENS_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    live_tokens: int
    token: str
    def __init__(self, token: _Optional[str] = ..., live_tokens: _Optional[int] = ...) -> None: ...

class StatsRequest(_message.Message):
    __slots__ = []
    def __init__(self) -> None: ...

class StatsResponse(_message.Message):
    __slots__ = ["active_users", "calls_total", "connections", "directories", "groups", "memberships", "revision", "uptime_seconds", "users", "version"]
    ACTIVE_USERS_FIELD_NUMBER: _ClassVar[int]
    CALLS_TOTAL_FIELD_NUMBER: _ClassVar[int]
    CONNECTIONS_FIELD_NUMBER: _ClassVar[int]
    DIRECTORIES_FIELD_NUMBER: _ClassVar[int]
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    MEMBERSHIPS_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    UPTIME_SECONDS_FIELD_NUMBER: _ClassVar[int]
    USERS_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    active_users: int
    calls_total: int
    connections: int
    directories: int
    groups: int
    memberships: int
    revision: int
    uptime_seconds: float
    users: int
    version: str
    def __init__(self, revision: _Optional[int] = ..., directories: _Optional[int] = ..., users: _Optional[int] = ..., active_users: _Optional[int] = ..., groups: _Optional[int] = ..., memberships: _Optional[int] = ..., connections: _Optional[int] = ..., calls_total: _Optional[int] = ..., uptime_seconds: _Optional[float] = ..., version: _Optional[str] = ...) -> None: ...

class Status(_message.Message):
    __slots__ = ["code", "message"]
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    code: Code
    message: str
    def __init__(self, code: _Optional[_Union[Code, str]] = ..., message: _Optional[str] = ...) -> None: ...

class UserDetail(_message.Message):
    __slots__ = ["display_name", "external_id", "group_ids", "id", "resource_json", "state", "user_name", "version"]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    EXTERNAL_ID_FIELD_NUMBER: _ClassVar[int]
    GROUP_IDS_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_JSON_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    USER_NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    display_name: str
    external_id: str
    group_ids: _containers.RepeatedScalarFieldContainer[str]
    id: str
    resource_json: str
    state: UserState
    user_name: str
    version: int
    def __init__(self, id: _Optional[str] = ..., user_name: _Optional[str] = ..., external_id: _Optional[str] = ..., display_name: _Optional[str] = ..., state: _Optional[_Union[UserState, str]] = ..., group_ids: _Optional[_Iterable[str]] = ..., resource_json: _Optional[str] = ..., version: _Optional[int] = ...) -> None: ...

class UserRef(_message.Message):
    __slots__ = ["external_id", "id", "user_name"]
    EXTERNAL_ID_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    USER_NAME_FIELD_NUMBER: _ClassVar[int]
    external_id: str
    id: str
    user_name: str
    def __init__(self, id: _Optional[str] = ..., user_name: _Optional[str] = ..., external_id: _Optional[str] = ...) -> None: ...

class UserSummary(_message.Message):
    __slots__ = ["external_id", "id", "state", "user_name"]
    EXTERNAL_ID_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    USER_NAME_FIELD_NUMBER: _ClassVar[int]
    external_id: str
    id: str
    state: UserState
    user_name: str
    def __init__(self, id: _Optional[str] = ..., user_name: _Optional[str] = ..., external_id: _Optional[str] = ..., state: _Optional[_Union[UserState, str]] = ...) -> None: ...

class VerifyRequest(_message.Message):
    __slots__ = []
    def __init__(self) -> None: ...

class VerifyResponse(_message.Message):
    __slots__ = ["differences", "groups_checked", "memberships_checked", "ok", "revision", "users_checked"]
    DIFFERENCES_FIELD_NUMBER: _ClassVar[int]
    GROUPS_CHECKED_FIELD_NUMBER: _ClassVar[int]
    MEMBERSHIPS_CHECKED_FIELD_NUMBER: _ClassVar[int]
    OK_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    USERS_CHECKED_FIELD_NUMBER: _ClassVar[int]
    differences: _containers.RepeatedScalarFieldContainer[str]
    groups_checked: int
    memberships_checked: int
    ok: bool
    revision: int
    users_checked: int
    def __init__(self, ok: bool = ..., differences: _Optional[_Iterable[str]] = ..., users_checked: _Optional[int] = ..., groups_checked: _Optional[int] = ..., memberships_checked: _Optional[int] = ..., revision: _Optional[int] = ...) -> None: ...

class WatchEvent(_message.Message):
    __slots__ = ["cause", "directory_id", "group_id", "kind", "revision", "seq", "time_unix_ms", "user_id"]
    CAUSE_FIELD_NUMBER: _ClassVar[int]
    DIRECTORY_ID_FIELD_NUMBER: _ClassVar[int]
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    TIME_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    cause: str
    directory_id: str
    group_id: str
    kind: str
    revision: int
    seq: int
    time_unix_ms: int
    user_id: str
    def __init__(self, revision: _Optional[int] = ..., seq: _Optional[int] = ..., directory_id: _Optional[str] = ..., kind: _Optional[str] = ..., user_id: _Optional[str] = ..., group_id: _Optional[str] = ..., cause: _Optional[str] = ..., time_unix_ms: _Optional[int] = ...) -> None: ...

class WatchRequest(_message.Message):
    __slots__ = ["directory_id", "from_revision"]
    DIRECTORY_ID_FIELD_NUMBER: _ClassVar[int]
    FROM_REVISION_FIELD_NUMBER: _ClassVar[int]
    directory_id: str
    from_revision: int
    def __init__(self, from_revision: _Optional[int] = ..., directory_id: _Optional[str] = ...) -> None: ...

class Code(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []

class Reason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []

class UserState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []
