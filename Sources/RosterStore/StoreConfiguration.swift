/// How the store opens and writes its SQLite database.
///
/// | key | type | default | meaning |
/// |---|---|---|---|
/// | `path` | String | — | the database file (created if missing, with its WAL beside it) |
/// | `synchronous` | `.full`/`.normal` | `.full` | `.full`: an acknowledged write survives power loss; `.normal`: may lose the last writes on power loss (never on a process crash) |
/// | `maxBatch` | Int | 256 | most requests committed in one transaction (group commit); 1 turns batching off |
/// | `eventRetentionDays` | Int | 30 | events younger than this are kept |
/// | `eventRetentionCount` | Int | 10,000,000 | the newest this many events are kept, whatever their age |
/// | `auditRetentionDays` | Int | 90 | audit rows younger than this are kept; older ones are pruned hourly |
/// | `busyTimeoutSeconds` | Double | 5 | how long to wait for a lock held by another process (e.g. a backup tool) |
/// | `walCheckpoint` | `.background`/`.inline` | `.background` | `.background`: WAL checkpoints run beside the writer, not inside a COMMIT (see `WALCheckpointer`); `.inline`: SQLite's default auto-checkpoint |
/// | `compactAfterIdle` | Duration? | 1 s | once writes pause this long, a compacted copy of the index (every map's pending changes folded into its flat base) is built in the background and published; nil: never |
public struct StoreConfiguration: Sendable {
    public enum Synchronous: String, Sendable, CaseIterable { case full, normal }

    public var path: String
    public var synchronous: Synchronous = .full
    public var maxBatch: Int = 256
    public var eventRetentionDays: Int = 30
    public var eventRetentionCount: Int = 10_000_000
    public var auditRetentionDays: Int = 90
    public var busyTimeoutSeconds: Double = 5

    public enum WALCheckpoint: String, Sendable, CaseIterable { case background, inline }
    public var walCheckpoint: WALCheckpoint = .background
    public var compactAfterIdle: Duration? = .seconds(1)
    /// When checkpoints run (tests make them small to exercise the bound).
    var walThresholds = WALCheckpointer.Thresholds()

    public init(path: String) {
        self.path = path
    }
}
