// RosterSCIM: pure SCIM 2.0 semantics (RFC 7643/7644), no I/O.
//
// - Errors:     SCIMError (status, scimType, detail; jsonBody in the SCIM Error schema)
// - Filter:     SCIMFilter.parse / matches / simpleEquality / percentDecodedFallback
// - PATCH:      PatchRequest, UserPatch.apply, GroupPatch.apply (→ MemberOp)
// - Resources:  UserRequest, GroupRequest, UserFields, GroupFields, SCIMResources, ListResponse,
//               ListQuery, AttributeProjection, SortSpec
// - Discovery:  SCIMDiscovery (ServiceProviderConfig, ResourceTypes, Schemas)
//
// Provider dialects tolerated are listed in /work/shared/providers/PROVIDERS.md; the rules are
// documented on each type.
