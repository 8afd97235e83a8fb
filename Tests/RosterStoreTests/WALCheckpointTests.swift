import Foundation
import Logging
import RosterCore
import Testing

@testable import RosterStore

/// WAL checkpoints beside the writer (`WALCheckpointer`): they happen, the log stays bounded
/// under sustained writes, and nothing acknowledged is lost. Thresholds are tiny so that a few
/// thousand writes cross them many times.
@Suite("WAL checkpoints")
struct WALCheckpointTests {
    static let thresholds = WALCheckpointer.Thresholds(passFrames: 16, restartFrames: 64, limitFrames: 256)

    static func open(_ dir: TempDir, mode: StoreConfiguration.WALCheckpoint = .background) throws -> RosterStore {
        var config = StoreConfiguration(path: dir.database)
        config.walCheckpoint = mode
        config.walThresholds = thresholds
        return try RosterStore.open(config, logger: Logger(label: "test"))
    }

    static func walBytes(_ dir: TempDir) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: dir.database + "-wal")[.size]) as? NSNumber)?.intValue ?? 0
    }

    /// `clients` concurrent callers, each creating `perClient` users one after the other
    /// (ids `u-<client>-<first + n>`).
    static func createUsers(_ store: RosterStore, _ directory: String, clients: Int, perClient: Int, first: Int = 0)
        async throws
    {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for client in 0..<clients {
                group.addTask {
                    for n in first..<(first + perClient) {
                        _ = try await createUser(store, directory, id: "u-\(client)-\(n)", userName: "user-\(client)-\(n)@example.com")
                    }
                }
            }
            try await group.waitForAll()
        }
    }

    @Test("under sustained concurrent writes, checkpoints run in the background and the WAL stays bounded")
    func boundedUnderLoad() async throws {
        let dir = TempDir()
        let clients = 16
        let perClient = 250
        var directoryID = ""
        do {
            let store = try Self.open(dir)
            let checkpointer = try #require(store.sqliteCheckpointer, "background checkpoints are the default")
            directoryID = try await store.createDirectory(name: "wal", provider: .generic, policy: .revoke).0.id
            var largestWAL = 0
            // In rounds, so the log's size is seen many times while the writer is busy.
            for round in 0..<10 {
                try await Self.createUsers(store, directoryID, clients: clients, perClient: perClient / 10, first: round * perClient / 10)
                largestWAL = max(largestWAL, Self.walBytes(dir))
            }
            let counters = checkpointer.counters
            #expect(counters.backgroundPasses > 0, "\(counters)")
            #expect(counters.writerCheckpoints > 0, "the writer finished checkpoints so the log restarted: \(counters)")
            #expect(counters.failures == 0, "\(counters)")
            // 4,000 creates write several thousand frames; without restarts the log would hold
            // them all. Bounded: the limit plus what one batch (at most 16 requests here) adds.
            let frameBytes = 4096 + 24
            let bound = (Self.thresholds.limitFrames + 512) * frameBytes
            #expect(largestWAL > 0)
            #expect(largestWAL <= bound, "WAL grew to \(largestWAL) bytes (bound \(bound)): \(counters)")
            #expect(store.publisher.current.userCount == clients * perClient)
            store.close()
        }
        // Everything acknowledged is in the database when it is opened again (close() waited for
        // the writer, so the directory lock went with the store).
        let reopened = try Self.open(dir)
        #expect(reopened.publisher.current.userCount == clients * perClient)
        #expect(try await reopened.user(directoryID: directoryID, id: "u-15-249") != nil)
        reopened.close()
    }

    @Test("inline mode leaves checkpoints to SQLite (no checkpointer), and the writes are the same")
    func inlineMode() async throws {
        let dir = TempDir()
        let store = try Self.open(dir, mode: .inline)
        #expect(store.sqliteCheckpointer == nil)
        let directoryID = try await store.createDirectory(name: "wal", provider: .generic, policy: .revoke).0.id
        try await Self.createUsers(store, directoryID, clients: 4, perClient: 50)
        #expect(store.publisher.current.userCount == 200)
        store.close()
    }
}
