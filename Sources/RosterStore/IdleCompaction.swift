import Dispatch
import Logging
import RosterCore
import Synchronization

extension RosterStore {
    /// Once writes pause for `compactAfterIdle`, builds a compacted copy of the published index
    /// in the background and publishes it, unless a write came first (then that write's own pause
    /// schedules the next attempt). Same revision, same answers: only the layout changes, so
    /// lookups stop probing the deltas a burst of writes left behind.
    ///
    /// Runs on the writer queue when it has drained; the publish hops back to it, so it is
    /// ordered with every write.
    func scheduleIdleCompaction() {
        guard let delay = configuration.compactAfterIdle else { return }
        let scheduled = publisher.currentSnapshot
        guard scheduled.index.pendingChangeCount > 0 else { return }
        queue.asyncAfter(deadline: .now() + .nanoseconds(Int(clamping: delay.nanoseconds))) { [weak self] in
            guard let self, self.publisher.currentSnapshot === scheduled, !self.pending.withLock({ $0.draining || !$0.items.isEmpty }) else { return }
            DispatchQueue.global(qos: .utility).async { [weak self] in
                guard let compacted = scheduled.index.compacted() else { return }
                self?.queue.async { [weak self] in
                    guard let self, self.publisher.currentSnapshot === scheduled else { return }
                    self.publisher.publish(compacted)
                    // The replaced snapshot's tables are freed off the writer: at a million users
                    // that is millions of releases of cold references, which would otherwise
                    // land on the next write.
                    DispatchQueue.global(qos: .utility).asyncAfter(deadline: .now() + .seconds(2)) {
                        withExtendedLifetime(scheduled) {}
                    }
                    self.logger.debug(
                        "index compacted", metadata: ["store.revision": "\(compacted.revision)"])
                }
            }
        }
    }
}
