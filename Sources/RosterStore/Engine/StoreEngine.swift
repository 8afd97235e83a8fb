import RosterCore

/// A durable engine behind `RosterStore`: SQLite in the data directory (one host, the embedded
/// default) or PostgreSQL (a fleet of instances sharing one database). `RosterStore` owns the
/// rules, the single writer's queue and batching, the published index and the token cache; an
/// engine owns only rows: how a batch becomes one transaction, how the state is read back, and
/// how other writers' revisions are found. The rules and SCIM cannot tell which one runs.
///
/// Writer-side methods (`load`, `writeBatch`, `committed`, maintenance) are called on the
/// store's writer queue only, one at a time; reads may come from any task at any time.
protocol StoreEngine: AnyObject, Sendable {
    /// Where the rows live, for messages (a path, or a database URL without its password).
    var location: String { get }

    /// Every stored row as a new index, with the directories' token hashes.
    func load() throws(StoreError) -> LoadedState

    /// Runs one write batch as one transaction. `body` gets the transaction and the revisions
    /// that other writers committed after `localRevision`, in order (an engine with no other
    /// writers passes none); those are committed already and must be replayed before the batch's
    /// own requests, which are numbered after them. Returning commits; throwing rolls back.
    func writeBatch(after localRevision: UInt64, _ body: (any StoreTransaction, [ChangeLogEntry]) throws -> Void) throws

    /// Whether an error thrown while one request of a batch was prepared or persisted fails the
    /// whole batch (I/O, a lost connection) rather than refusing that request alone (a constraint).
    func failsBatch(_ error: any Error) -> Bool

    /// The error a caller gets when a batch could not commit: says that nothing was written.
    func commitError(_ error: any Error) -> StoreError

    /// Called after each batch, between transactions (SQLite runs WAL upkeep here).
    func afterBatch()

    /// Revisions committed after `revision`, in order, at most `limit` of them: what a follower
    /// replays. An engine with no other writers returns none.
    func committed(after revision: UInt64, limit: Int) throws -> [ChangeLogEntry]

    // MARK: Reads

    func user(directoryID: String, id: String) async throws -> StoredUser?
    func group(directoryID: String, id: String) async throws -> StoredGroup?
    /// Live users of a directory in creation order, `limit` after skipping `offset`.
    func users(directoryID: String, offset: Int, limit: Int) async throws -> [StoredUser]
    func groups(directoryID: String, offset: Int, limit: Int) async throws -> [StoredGroup]
    /// Calls `body` with every live user of the directory in creation order, until it returns false.
    func scanUsers(directoryID: String, _ body: (StoredUser) throws -> Bool) async throws
    func scanGroups(directoryID: String, _ body: (StoredGroup) throws -> Bool) async throws
    /// Events after `revision` (exclusive) in order, of one directory or all: at most `limit`,
    /// except that the last revision of a page comes whole.
    func events(after revision: UInt64, directoryID: String?, limit: Int) async throws -> [Event]
    func oldestEventRevision() async throws -> UInt64
    func audit(directoryID: String?, since: Int64, limit: Int) async throws -> [AuditEntry]

    // MARK: Maintenance (writer queue)

    /// Deletes events at or below `revision` that are older than `time` (ms); returns how many.
    /// `revision` is already bounded by the count rule and by live Watches.
    func deleteEvents(throughRevision revision: Int64, olderThan time: Int64) throws -> Int
    /// The revision of the event that has `count` newer events after it (nil: fewer than that).
    func eventRevision(keepingNewest count: Int) throws -> Int64?
    /// Deletes change-log entries at or below `revision` committed before `time` (ms); returns how
    /// many. An instance whose revision falls behind what is left loads a new snapshot.
    func pruneChangeLog(throughRevision revision: Int64, olderThan time: Int64) throws -> Int
    /// Appends audit rows of requests that wrote nothing, outside any write batch.
    func appendAudit(_ entries: [AuditEntry]) throws
    /// Deletes at most `limit` audit rows older than `time` (ms), oldest first; returns how many.
    func pruneAudit(olderThan time: Int64, limit: Int) throws -> Int
    /// Writes a consistent copy of the database into `path`, an empty file the store just created
    /// (new, private, not a link: `BackupDestination`).
    func backup(to path: String) throws

    /// Releases connections and files; nothing is written afterwards.
    func close()
}

/// One transaction of the writer, as the rules and the batcher see it.
protocol StoreTransaction {
    /// A live (not deleted) user of the directory as stored in this transaction, or nil.
    func user(directoryID: String, id: String) throws -> StoredUser?
    func group(directoryID: String, id: String) throws -> StoredGroup?
    /// Runs `body` in a savepoint: its writes are kept when it returns, undone when it throws.
    func inSavepoint(_ body: () throws -> Void) throws
    /// Writes one revision: its row changes, events, token changes and change-log entry.
    func persist(_ entry: ChangeLogEntry, events: [Event], now: Int64) throws
    func insertAudit(_ entry: AuditEntry) throws
    /// Records the revision the batch ends at (the engine's head).
    func setRevision(_ revision: UInt64) throws
}

/// A directory's SCIM token hashes changed (admin writes). Part of the change log, so every
/// instance of a fleet authenticates with the same tokens.
public enum TokenChange: Sendable, Hashable {
    /// The directory's first token (at creation).
    case set(directoryID: String, hash: [UInt8])
    /// A new token; the current one stays valid as the previous one.
    case rotate(directoryID: String, hash: [UInt8])
}

/// What one committed revision did to the rows: everything a follower needs to reach the
/// writer's state without running the rules (`MembershipIndex.replay`).
public struct ChangeLogEntry: Sendable, Hashable {
    public var revision: UInt64
    public var changes: [StoreChange]
    public var tokens: [TokenChange]
    /// When the writer wrote it (ms since the Unix epoch), for entries read back from a shared
    /// log; nil for the writer's own.
    public var committedAt: Int64?

    public init(revision: UInt64, changes: [StoreChange], tokens: [TokenChange] = [], committedAt: Int64? = nil) {
        self.revision = revision
        self.changes = changes
        self.tokens = tokens
        self.committedAt = committedAt
    }
}

/// What a load found: the index, the token hashes by directory (current first), and timings.
struct LoadedState: Sendable {
    var index: MembershipIndex
    var tokens: [String: [[UInt8]]]
    var readTime: Duration = .zero
    var buildTime: Duration = .zero
    /// The database's generation id, for engines shared by a fleet.
    var generation: String? = nil
}
