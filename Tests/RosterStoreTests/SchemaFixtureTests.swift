import Foundation
import GRDB
import RosterCore
import Testing

@testable import RosterStore

/// Databases written by every earlier schema version must open, recover to the same answers and
/// take new writes. Each fixture is a SQL dump of a database the daemon itself wrote at that
/// version (see the header of each file); they are never edited.
@Suite("Schema fixtures")
struct SchemaFixtureTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    /// A data directory whose database is the fixture `name`.
    static func restore(_ name: String) throws -> TempDir {
        let dir = TempDir()
        let sql = try String(contentsOf: fixtures.appendingPathComponent(name), encoding: .utf8)
        let queue = try DatabaseQueue(path: dir.database)
        try queue.writeWithoutTransaction { db in
            // As the sqlite3 shell loads a dump: tables come in name order, so a row may
            // reference a table created further down.
            try db.execute(sql: "PRAGMA foreign_keys = OFF")
            do {
                try db.execute(sql: sql)
            } catch {
                // Leave no transaction open (GRDB traps on that); the error names the statement.
                if db.isInsideTransaction { try? db.execute(sql: "ROLLBACK") }
                throw error
            }
        }
        try queue.close()
        return dir
    }

    @Test("schema v1: recovered, verified, answering as when it was written, and writable")
    func schemaV1() async throws {
        let dir = try Self.restore("schema-v1.sql")
        let store = try openStore(dir)
        defer { store.close() }
        let directory = "3466d4fb-1086-453a-aa73-a0e5fdc28e9f"
        let alice = "7c875c2b-776a-44e3-bfbf-fb8282d408a3"
        let bob = "94728b10-267a-457d-8e56-36e1959abc73"
        let carol = "4cc13d91-154d-4902-a96d-619a51b6ce33"
        let dave = "70d53aca-6b93-49bc-a380-1210fcf8eb3e"
        let admins = "40a57fd3-3bcf-45e0-97a8-12c12860957e"
        let staff = "252a86e6-8b36-42a8-a463-d626b2b847c4"

        let index = store.publisher.current
        #expect(index.revision == 9)  // nine accepted writes (16 events)
        #expect(index.membershipCount == 3)
        func reason(_ user: String, _ group: String) throws -> CheckReason {
            try index.check(directoryID: directory, user: .id(user), group: .id(group)).reason
        }
        #expect(try reason(alice, admins) == .member)
        #expect(try reason(alice, staff) == .member)
        #expect(try reason(carol, staff) == .member)
        #expect(try reason(carol, admins) == .notMember)
        #expect(try reason(bob, admins) == .userSuspended)
        #expect(try reason(dave, admins) == .userDeleted)
        #expect(try index.check(directoryID: directory, user: .userName("BOB@example.com"), group: .displayName("admins")).reason == .userSuspended)
        #expect(index.user(directoryID: directory, .externalID("00u1"))?.id == alice)

        let report = try await store.verify()
        #expect(report.ok, "\(report.differences)")

        // The revision sequence and the uniqueness rules carry on from the stored state.
        let created = try await createUser(store, directory, id: "new-user", userName: "erin@example.com", groups: [staff])
        #expect(created.revision == 10)
        await #expect(throws: RosterError.self) {
            _ = try await createUser(store, directory, id: "dup", userName: "ALICE@example.com")
        }
    }
}
