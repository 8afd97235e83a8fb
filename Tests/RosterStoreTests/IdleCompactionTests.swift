import Foundation
import Logging
import RosterCore
import Testing

@testable import RosterStore

@Suite("Idle compaction")
struct IdleCompactionTests {
    func waitUntil(_ condition: () -> Bool) async throws -> Bool {
        // A bound against a hang, not a speed assertion.
        for _ in 0..<3_000 {
            if condition() { return true }
            try await Task.sleep(for: .milliseconds(10))
        }
        return condition()
    }

    @Test("once writes pause, the published index is compacted at the same revision; writes go on")
    func compactsWhenIdle() async throws {
        let dir = TempDir()
        var config = StoreConfiguration(path: dir.database)
        config.compactAfterIdle = .milliseconds(50)
        let store = try RosterStore.open(config, logger: Logger(label: "test"))
        _ = try await store.createDirectory(name: "acme", provider: .okta, policy: .revoke)
        let directory = try #require(store.publisher.current.allDirectories.first?.directory.id)
        for n in 0..<20 { _ = try await createUser(store, directory, id: "u\(n)", userName: "user\(n)@example.com") }
        _ = try await createGroup(store, directory, id: "g", members: (0..<10).map { "u\($0)" })
        // (On a slow machine a pause between two of these writes may already have compacted;
        // the test below with compaction off shows the same writes leave changes pending.)
        let written = store.publisher.current

        #expect(try await waitUntil { store.publisher.current.pendingChangeCount == 0 })
        let compacted = store.publisher.current
        #expect(compacted.revision == written.revision)
        #expect(compacted.differences(from: written).isEmpty)

        let next = try await createUser(store, directory, id: "u20", userName: "user20@example.com")
        #expect(next.revision == written.revision + 1)
        #expect(try store.publisher.current.check(directoryID: directory, user: .id("u5"), group: .id("g")).allowed)
        store.close()
    }

    @Test("nil turns it off: the same writes leave changes pending")
    func off() async throws {
        let dir = TempDir()
        var config = StoreConfiguration(path: dir.database)
        config.compactAfterIdle = nil
        let store = try RosterStore.open(config, logger: Logger(label: "test"))
        _ = try await store.createDirectory(name: "acme", provider: .okta, policy: .revoke)
        let directory = try #require(store.publisher.current.allDirectories.first?.directory.id)
        for n in 0..<20 { _ = try await createUser(store, directory, id: "u\(n)", userName: "user\(n)@example.com") }
        _ = try await createGroup(store, directory, id: "g", members: (0..<10).map { "u\($0)" })
        try await Task.sleep(for: .milliseconds(300))
        #expect(store.publisher.current.pendingChangeCount > 0)
        store.close()
    }
}
