import Foundation
import GRDB
import Logging
import RosterCore
import Synchronization
import Testing

@testable import RosterStore

/// A temporary data directory removed at the end of the test.
final class TempDir {
    let path: String
    init() {
        path = NSTemporaryDirectory() + "roster-store-" + UUID().uuidString
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
    var database: String { path + "/roster.sqlite" }
}

func openStore(_ dir: TempDir, maxBatch: Int = 256) throws -> RosterStore {
    var config = StoreConfiguration(path: dir.database)
    config.maxBatch = maxBatch
    return try RosterStore.open(config, logger: Logger(label: "test"))
}

func createUser(_ store: RosterStore, _ directory: String, id: String, userName: String, groups: [String] = [])
    async throws -> WriteOutcome
{
    try await store.write(WriteRequest(directoryID: directory, audit: AuditInfo(method: "POST", path: "/Users")) { _ in
        .createUser(
            directoryID: directory, id: id,
            UserDraft(userName: userName, resource: ["userName": .string(userName)], groupIDs: groups))
    })
}

func createGroup(_ store: RosterStore, _ directory: String, id: String, members: [String]) async throws -> WriteOutcome {
    try await store.write(WriteRequest(directoryID: directory, audit: AuditInfo(method: "POST", path: "/Groups")) { _ in
        .createGroup(directoryID: directory, id: id, GroupDraft(displayName: id, resource: ["displayName": .string(id)]), members: members)
    })
}

func suspend(_ store: RosterStore, _ directory: String, id: String) async throws -> WriteOutcome {
    try await store.write(WriteRequest(directoryID: directory, audit: AuditInfo(method: "PATCH", path: "/Users/\(id)")) { context in
        guard let user = try context.user(directoryID: directory, id: id) else {
            throw RosterError(.userNotFound, "no user \(id)")
        }
        var resource = user.resource
        resource["active"] = .bool(false)
        return .replaceUser(
            directoryID: directory, id: id, UserDraft(userName: user.record.userName, active: false, resource: resource),
            previous: user.resource)
    })
}

@Suite("RosterStore")
struct StoreTests {
    @Test("writes are durable: a reopened store has the same index, events and resources")
    func reopen() async throws {
        let dir = TempDir()
        var directoryID = ""
        var revision: UInt64 = 0
        do {
            let store = try openStore(dir)
            let (directory, token) = try await store.createDirectory(name: "acme", provider: .okta, policy: .revoke)
            directoryID = directory.id
            #expect(store.authenticate(directoryID: directoryID, token: token))
            #expect(!store.authenticate(directoryID: directoryID, token: token + "x"))
            _ = try await createUser(store, directoryID, id: "u1", userName: "alice")
            _ = try await createGroup(store, directoryID, id: "g1", members: ["u1"])
            revision = store.publisher.revision
            #expect(try store.publisher.current.check(directoryID: directoryID, user: .id("u1"), group: .id("g1")).allowed)
            store.close()
        }
        let store = try openStore(dir)
        #expect(store.publisher.revision == revision)
        #expect(try store.publisher.current.check(directoryID: directoryID, user: .userName("ALICE"), group: .id("g1")).allowed)
        #expect(try await store.user(directoryID: directoryID, id: "u1")?.resource["userName"] == .string("alice"))
        let events = try await store.events(after: 0, directoryID: directoryID, limit: 100)
        #expect(events.map(\.kind) == [.directoryCreated, .userCreated, .groupCreated, .groupUserAdded])
        let verify = try await store.verify()
        #expect(verify.ok, "\(verify.differences)")
        let audit = try await store.audit(directoryID: directoryID, since: 0, limit: 10)
        #expect(audit.map(\.method) == ["ADMIN", "POST", "POST"])
    }

    @Test("suspension through the store removes memberships in the same transaction")
    func suspensionDurable() async throws {
        let dir = TempDir()
        let store = try openStore(dir)
        let (directory, _) = try await store.createDirectory(name: "d", provider: .entra, policy: .revoke)
        _ = try await createUser(store, directory.id, id: "u1", userName: "bob")
        _ = try await createGroup(store, directory.id, id: "g1", members: ["u1"])
        _ = try await createGroup(store, directory.id, id: "g2", members: ["u1"])
        let outcome = try await suspend(store, directory.id, id: "u1")
        #expect(outcome.applied.events.filter { $0.kind == .groupUserRemoved }.count == 2)
        let rows = try await store.pool.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM memberships") }
        #expect(rows == 0)
        #expect(try store.publisher.current.check(directoryID: directory.id, user: .id("u1"), group: .id("g1")).reason == .userSuspended)
        // The groups' versions moved with their members, in the rows as in the index.
        let verify = try await store.verify()
        #expect(verify.ok, "\(verify.differences)")
    }

    @Test("a failure in the middle of a mutation leaves the store and the published index unchanged")
    func constraintFailureMidMutation() async throws {
        let dir = TempDir()
        let store = try openStore(dir)
        let (directory, _) = try await store.createDirectory(name: "d", provider: .generic, policy: .revoke)
        _ = try await createUser(store, directory.id, id: "u1", userName: "a")
        _ = try await createUser(store, directory.id, id: "u2", userName: "b")
        _ = try await createGroup(store, directory.id, id: "g1", members: ["u1", "u2"])
        // Make the last statement of a group delete fail, after its membership rows were removed.
        try await store.pool.write { db in
            try db.execute(sql: "CREATE TRIGGER no_group_delete BEFORE DELETE ON groups BEGIN SELECT RAISE(ABORT, 'simulated constraint'); END")
        }
        let before = store.publisher.current
        await #expect(throws: (any Error).self) {
            _ = try await store.deleteGroup(directoryID: directory.id, groupID: "g1")
        }
        #expect(store.publisher.revision == before.revision)
        #expect(store.publisher.current.memberCount(ofGroup: "g1") == 2)
        let rows = try await store.pool.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM memberships") }
        #expect(rows == 2)
        let events = try await store.events(after: before.revision, directoryID: nil, limit: 10)
        #expect(events.isEmpty)
        // The next write still works, and the failure is in the audit trail.
        try await store.pool.write { db in try db.execute(sql: "DROP TRIGGER no_group_delete") }
        _ = try await store.deleteGroup(directoryID: directory.id, groupID: "g1")
        #expect(store.publisher.current.memberCount(ofGroup: "g1") == 0)
        let audit = try await store.audit(directoryID: directory.id, since: 0, limit: 20)
        #expect(audit.contains { $0.outcome == "refused" && $0.detail.contains("simulated constraint") })
        #expect((try await store.verify()).ok)
    }

    @Test("an I/O error at commit fails the whole batch and publishes nothing")
    func ioErrorAtCommit() async throws {
        let dir = TempDir()
        let store = try openStore(dir)
        let (directory, _) = try await store.createDirectory(name: "d", provider: .generic, policy: .revoke)
        let before = store.publisher.current
        store.failNextCommit.withLock { $0 = true }
        await #expect(throws: StoreError(.io, "")) {
            _ = try await createUser(store, directory.id, id: "u1", userName: "a")
        }
        #expect(store.publisher.revision == before.revision)
        #expect(store.publisher.current.user(directoryID: directory.id, .id("u1")) == nil)
        #expect(try await store.user(directoryID: directory.id, id: "u1") == nil)
        _ = try await createUser(store, directory.id, id: "u1", userName: "a")
        #expect(store.publisher.revision == before.revision + 1)
    }

    @Test("concurrent writers are batched (group commit) and each answered after its own commit")
    func groupCommit() async throws {
        let dir = TempDir()
        let store = try openStore(dir)
        let (directory, _) = try await store.createDirectory(name: "d", provider: .generic, policy: .revoke)
        let revisions = try await withThrowingTaskGroup(of: UInt64.self) { group in
            for i in 0..<200 {
                group.addTask { try await createUser(store, directory.id, id: "u\(i)", userName: "user\(i)").revision }
            }
            var all: [UInt64] = []
            for try await r in group { all.append(r) }
            return all
        }
        #expect(Set(revisions).count == 200)
        #expect(store.publisher.current.userCount == 200)
        // One refused request in a batch does not fail the others.
        let bad = Task { try await createUser(store, directory.id, id: "dup", userName: "user1") }
        let good = Task { try await createUser(store, directory.id, id: "new", userName: "fresh") }
        await #expect(throws: RosterError(.uniqueness, "")) { _ = try await bad.value }
        #expect(try await good.value.user?.record.userName == "fresh")
        #expect((try await store.verify()).ok)
    }

    @Test("a second store on the same data directory is refused with the holder's pid")
    func exclusiveLock() throws {
        let dir = TempDir()
        let store = try openStore(dir)
        #expect {
            _ = try openStore(dir)
        } throws: { error in
            let e = error as? StoreError
            return e?.code == .locked && (e?.message.contains("pid \(getpid())") ?? false)
        }
        _ = store
    }

    @Test("a corrupt file and a newer schema are refused at open with a clear message")
    func refusesBadFiles() throws {
        let dir = TempDir()
        try Data(repeating: 0x42, count: 8192).write(to: URL(fileURLWithPath: dir.database))
        #expect(throws: StoreError(.corrupt, "")) { _ = try openStore(dir) }

        let dir2 = TempDir()
        do { _ = try openStore(dir2) }
        let queue = try DatabaseQueue(path: dir2.database)
        try queue.write { db in
            try db.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES ('v999-from-the-future')")
        }
        try queue.close()
        #expect(throws: StoreError(.schemaTooNew, "")) { _ = try openStore(dir2) }
    }

    @Test("an unwritable data directory is a clear error")
    func unwritable() throws {
        var config = StoreConfiguration(path: "/proc/roster-cannot-write-here/roster.sqlite")
        config.maxBatch = 1
        #expect(throws: StoreError(.unwritable, "")) { _ = try RosterStore.open(config, logger: Logger(label: "t")) }
    }

    @Test("backup is a consistent copy a store can be opened on")
    func backup() async throws {
        let dir = TempDir()
        let store = try openStore(dir)
        let (directory, _) = try await store.createDirectory(name: "d", provider: .generic, policy: .revoke)
        _ = try await createUser(store, directory.id, id: "u1", userName: "a")
        _ = try await createGroup(store, directory.id, id: "g1", members: ["u1"])
        let target = TempDir()
        let result = try await store.backup(to: target.database)
        #expect(result.bytes > 0)
        await #expect(throws: StoreError(.exists, "")) { _ = try await store.backup(to: target.database) }
        let restored = try openStore(target)
        #expect(restored.publisher.revision == store.publisher.revision)
        #expect(try restored.publisher.current.check(directoryID: directory.id, user: .id("u1"), group: .id("g1")).allowed)
    }

    @Test("the schema refuses a membership row for an inactive user, whatever wrote it")
    func schemaEnforcesRule() async throws {
        let dir = TempDir()
        let store = try openStore(dir)
        let (directory, _) = try await store.createDirectory(name: "d", provider: .generic, policy: .revoke)
        _ = try await createUser(store, directory.id, id: "u1", userName: "a")
        _ = try await createGroup(store, directory.id, id: "g1", members: [])
        _ = try await suspend(store, directory.id, id: "u1")
        await #expect(throws: (any Error).self) {
            try await store.pool.write { db in
                try db.execute(sql: "INSERT INTO memberships SELECT g.key, u.key FROM groups g, users u WHERE g.id = 'g1' AND u.id = 'u1'")
            }
        }
    }

    @Test("event compaction keeps what a live Watch still needs")
    func compaction() async throws {
        let dir = TempDir()
        var config = StoreConfiguration(path: dir.database)
        config.eventRetentionDays = 0
        config.eventRetentionCount = 2
        let store = try RosterStore.open(config, logger: Logger(label: "t"))
        let (directory, _) = try await store.createDirectory(name: "d", provider: .generic, policy: .revoke)
        for i in 0..<5 { _ = try await createUser(store, directory.id, id: "u\(i)", userName: "n\(i)") }
        let handle = store.retainEvents(after: 2)
        let future = Int64(Date().timeIntervalSince1970 * 1000) + 1000
        _ = try await store.compactEvents(nowMillis: future)
        #expect(try await store.events(after: 2, directoryID: nil, limit: 100).count == 4)
        store.releaseWatchFloor(handle)
        _ = try await store.compactEvents(nowMillis: future)
        let left = try await store.events(after: 0, directoryID: nil, limit: 100)
        #expect(left.count == 2)
        #expect(left.last?.revision == store.publisher.revision)
    }

    @Test("audit retention: rows older than auditRetentionDays go, in slices; newer ones and long paths are kept cut")
    func auditRetention() async throws {
        let dir = TempDir()
        var config = StoreConfiguration(path: dir.database)
        config.auditRetentionDays = 7
        let store = try RosterStore.open(config, logger: Logger(label: "t"))
        let (directory, _) = try await store.createDirectory(name: "d", provider: .generic, policy: .revoke)
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let day: Int64 = 86_400_000
        // More old rows than one prune slice, so the loop over slices is exercised.
        let old = RosterStore.auditPruneSlice + 17
        for i in 0..<old {
            store.recordAudit(
                AuditEntry(
                    revision: nil, time: now - 8 * day - Int64(i), directoryID: directory.id, provider: nil, method: "POST",
                    path: "/old", status: 400, outcome: "refused", detail: "", durationMicroseconds: 1))
            if i % 5_000 == 4_999 { try await Task.sleep(for: .milliseconds(700)) }  // let the buffer flush
        }
        store.recordAudit(
            AuditEntry(
                revision: nil, time: now - 6 * day, directoryID: directory.id, provider: nil, method: "POST",
                path: "/" + String(repeating: "é", count: 1_000), status: 400, outcome: "refused", detail: "",
                durationMicroseconds: 1))
        try await Task.sleep(for: .milliseconds(700))
        #expect(try await store.audit(directoryID: directory.id, since: 0, limit: 100_000).count == old + 2)
        let removed = try await store.compactAudit(nowMillis: now)
        #expect(removed == old)
        let left = try await store.audit(directoryID: directory.id, since: 0, limit: 100_000)
        #expect(left.count == 2, "the CreateDirectory row and the 6-day-old one stay")
        let long = try #require(left.first { $0.path.hasPrefix("/é") })
        #expect(long.path.utf8.count <= 512 && long.path.hasSuffix("…"), "a stored path is cut to 512 bytes")
    }
}
