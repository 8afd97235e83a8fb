import RosterCore
import Synchronization

/// What one SCIM search that scans a directory may cost: a share of the directory's concurrent
/// scans, and a time budget. Searches the index answers (an `eq` on userName, externalId, id,
/// displayName) and plain pages never scan, so they are not counted.
///
/// Beyond either bound the search answers 503 with `Retry-After`, which every provider honours:
/// a burst of expensive searches slows itself down instead of the directory's writes, other
/// directories, or `/healthz`.
final class SearchBounds: Sendable {
    let maxPerDirectory: Int
    let budget: Duration
    private let running = Mutex<[String: Int]>([:])

    init(maxPerDirectory: Int, budget: Duration) {
        self.maxPerDirectory = max(1, maxPerDirectory)
        self.budget = budget
    }

    /// Why a search was cut short; becomes a 503 with `Retry-After`.
    struct Refused: Error {
        var detail: String
        var retryAfterSeconds: Int
    }

    /// Runs `body` with a slot of the directory's scans and a budget clock.
    func scan<T>(directoryID: String, _ body: (Clock) async throws -> T) async throws -> T {
        let admitted = running.withLock { counts -> Bool in
            let current = counts[directoryID, default: 0]
            guard current < maxPerDirectory else { return false }
            counts[directoryID] = current + 1
            return true
        }
        guard admitted else {
            throw Refused(
                detail: "\(maxPerDirectory) searches that scan this directory are running already (--max-searches-per-directory); retry shortly, or filter with eq on userName, externalId or displayName, which needs no scan",
                retryAfterSeconds: 1)
        }
        defer {
            running.withLock { counts in
                let left = (counts[directoryID] ?? 1) - 1
                counts[directoryID] = left > 0 ? left : nil
            }
        }
        return try await body(Clock(start: .now, budget: budget))
    }

    /// The budget of one search, checked as it goes.
    struct Clock: Sendable {
        let start: ContinuousClock.Instant
        let budget: Duration

        /// Throws `Refused` once the search has run past its budget.
        func check() throws {
            guard ContinuousClock.now - start > budget else { return }
            throw Refused(
                detail: "the search ran past its budget of \(budget.milliseconds) ms (--search-budget) and was stopped; narrow the filter, or use an eq filter the index answers",
                retryAfterSeconds: 5)
        }
    }
}
