import Dispatch
import GRDB
import GRDBSQLite
import Logging
import RosterCore
import Synchronization

/// Keeps SQLite's WAL checkpoints off the commit path.
///
/// By default SQLite checkpoints inside the COMMIT that takes the WAL past 1,000 pages: that
/// COMMIT copies every page back into the database file and fsyncs it (10–20 ms on the benchmark
/// machine), and every request of its batch, plus all that queue behind it, waits for it. That
/// was most of the tail of batched SCIM creates (docs/BENCHMARKS.md, "SCIM ingest").
///
/// Here the writer connection's auto-checkpoint is replaced by a WAL hook that only records the
/// size of the log after each commit; once `passFrames` new frames are in it, a passive
/// checkpoint runs on a connection and thread of its own while the writer goes on committing.
/// Durability is unchanged: a commit is durable once its frames are fsynced in the WAL, which
/// still happens in the COMMIT; a checkpoint only moves committed pages into the main file.
///
/// Bounding the log: SQLite starts the WAL over from its beginning only when a write
/// transaction begins with the whole log copied back, and a passive checkpoint racing a busy
/// writer never quite gets there. So once the log holds `restartFrames`, the writer itself runs
/// a passive checkpoint between two batches (after answering the first), as soon as a
/// background pass has left little to copy; past `limitFrames` it does so whatever is left.
/// The WAL therefore stays within about `limitFrames` pages, as with SQLite's default, except
/// that a reader holding one snapshot for a long time can pin it (as it can by default too).
final class WALCheckpointer: Sendable {
    struct Thresholds: Sendable {
        /// New frames in the log that start a background pass (SQLite's own default is 1,000).
        var passFrames = 1000
        /// Log size from which the writer finishes a checkpoint itself, so the WAL restarts.
        /// That costs the writer two fsyncs (10-30 ms measured), so it should be rare: at 16,000
        /// frames (64 MiB at 4 KiB pages) it happens about once a second under the heaviest
        /// SCIM load measured (user creates write ~15,000 frames/s), below the 1 % of requests
        /// a p99 sees. Readers do not pay for a large, mostly copied-back log: they search only
        /// the frames after the last checkpoint.
        var restartFrames = 16000
        /// Log size from which it does so whatever a background pass has left to copy.
        var limitFrames = 32000
    }

    struct Counters: Sendable, Equatable {
        /// Frames in the log after the last commit.
        var walFrames = 0
        /// Frames copied back as of the last checkpoint (of the current log).
        var backfilledFrames = 0
        var backgroundPasses = 0
        var writerCheckpoints = 0
        var failures = 0
        /// The last failure's error, for logs and tests.
        var lastFailure: String?
        fileprivate var running = false
    }

    let thresholds: Thresholds
    private let writer: DatabasePool
    private let connection: DatabaseQueue
    private let queue = DispatchQueue(label: "roster.store.checkpoint")
    private let state = Mutex(Counters())
    private let logger: Logger

    /// Opens the checkpoint connection and installs the WAL hook on the writer connection.
    init(pool: DatabasePool, path: String, synchronous: String, thresholds: Thresholds, logger: Logger) throws {
        var config = Configuration()
        config.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = \(synchronous)") }
        self.connection = try DatabaseQueue(path: path, configuration: config)
        self.writer = pool
        self.thresholds = thresholds
        self.logger = logger
        // The hook replaces SQLite's auto-checkpoint on this connection (sqlite3_wal_hook's
        // documented behaviour), so no COMMIT checkpoints any more. Unretained: the hook is
        // removed in deinit, before this object goes away.
        let context = Unmanaged.passUnretained(self).toOpaque()
        pool.writeWithoutTransaction { db in
            _ = sqlite3_wal_hook(db.sqliteConnection, walHook, context)
        }
    }

    deinit {
        writer.writeWithoutTransaction { db in
            _ = sqlite3_wal_hook(db.sqliteConnection, nil, nil)
            // Back to SQLite's default for anything that still writes through this pool.
            _ = sqlite3_wal_autocheckpoint(db.sqliteConnection, 1000)
        }
    }

    var counters: Counters { state.withLock { $0 } }

    /// Called by the WAL hook on the writer's thread after every commit: records the log size
    /// and starts a background pass when enough new frames have accumulated.
    fileprivate func didCommit(walFrames: Int) {
        let start = state.withLock { s -> Bool in
            // A smaller log than last time means SQLite restarted it: nothing in it is copied yet.
            if walFrames < s.walFrames { s.backfilledFrames = 0 }
            s.walFrames = walFrames
            guard !s.running, walFrames - s.backfilledFrames >= thresholds.passFrames else { return false }
            s.running = true
            return true
        }
        if start { queue.async { self.backgroundPass() } }
    }

    private func backgroundPass() {
        let result = Result { try connection.writeWithoutTransaction { db in try db.checkpoint(.passive) } }
        state.withLock { s in
            s.running = false
            s.backgroundPasses += 1
            switch result {
            case .success(let counts): s.backfilledFrames = max(0, counts.checkpointedFrameCount)
            case .failure(let error):
                s.failures += 1
                s.lastFailure = "background pass: \(error)"
            }
        }
        if case .failure(let error) = result {
            // The writer's own checkpoint at `limitFrames` still bounds the log.
            logger.warning("background WAL checkpoint failed", metadata: ["store.error": "\(error)"])
        }
    }

    /// Called on the writer's queue between batches (after the last one was answered): finishes
    /// a checkpoint on the writer connection when the log is large enough to be worth restarting.
    func betweenBatches() {
        let due = state.withLock { s -> (frames: Int, left: Int)? in
            guard s.walFrames >= thresholds.restartFrames else { return nil }
            let left = s.walFrames - s.backfilledFrames
            // At the limit even while a background pass runs (then after it): this is the bound.
            if s.walFrames >= thresholds.limitFrames { return (s.walFrames, left) }
            return !s.running && left <= thresholds.passFrames / 4 ? (s.walFrames, left) : nil
        }
        guard let due else { return }
        let start = ContinuousClock.now
        defer {
            // The writer (and the requests queued behind it) waited this long: worth seeing.
            logger.debug(
                "store.wal_checkpoint",
                metadata: [
                    "store.wal_frames": "\(due.frames)", "store.wal_frames_left": "\(due.left)",
                    "store.checkpoint_us": "\((ContinuousClock.now - start).microseconds)",
                ])
        }
        do {
            // On the checkpoint queue, so it follows a running background pass instead of
            // failing with SQLITE_BUSY against it; the writer waits, which is the point at the limit.
            let counts = try queue.sync {
                try writer.writeWithoutTransaction { db in try db.checkpoint(.passive) }
            }
            state.withLock { s in
                s.writerCheckpoints += 1
                s.backfilledFrames = max(0, counts.checkpointedFrameCount)
            }
        } catch {
            // SQLITE_BUSY (another checkpoint holds the lock) or I/O: the next batch tries again.
            state.withLock {
                $0.failures += 1
                $0.lastFailure = "on the writer: \(error)"
            }
            logger.warning("WAL checkpoint on the writer failed", metadata: ["store.error": "\(error)"])
        }
    }
}

/// sqlite3_wal_hook callback: `context` is the unretained `WALCheckpointer`.
private func walHook(
    _ context: UnsafeMutableRawPointer?, _ db: OpaquePointer?, _ name: UnsafePointer<CChar>?, _ frames: Int32
) -> Int32 {
    if let context {
        Unmanaged<WALCheckpointer>.fromOpaque(context).takeUnretainedValue().didCommit(walFrames: Int(frames))
    }
    return SQLITE_OK
}
