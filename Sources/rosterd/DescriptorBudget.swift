import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// How rosterd shares its file descriptors between the lookup socket and the SCIM listener.
///
/// Every accepted connection costs a descriptor, and `accept` failing with EMFILE stops both
/// listeners at once (1,100 idle HTTP connections under the common limit of 1,024 left the
/// lookup socket and `/healthz` unanswered). So: rosterd raises its soft limit to the hard one
/// at start, keeps `reserve` descriptors for itself (SQLite's files, epoll and event fds, logs,
/// a backup), and gives the SCIM listener only what the lookup socket's `--max-connections`
/// leaves. If the limit cannot hold both, the lookup socket's share is lowered rather than
/// overcommitted, with a warning that names the numbers.
struct DescriptorBudget: Equatable {
    /// Descriptors kept for rosterd's own files and sockets.
    static let reserve = 128
    /// The default SCIM connection limit never goes above this, however high the descriptor limit.
    static let maxDefaultSCIMConnections = 16_384

    var lookupConnections: Int
    var scimConnections: Int
    /// What was lowered and why, for a warning at start.
    var warnings: [String]

    /// - Parameters:
    ///   - descriptorLimit: the soft RLIMIT_NOFILE rosterd runs with.
    ///   - lookupMax: `--max-connections`.
    ///   - scimMax: `--scim-max-connections`, nil for the default.
    static func plan(descriptorLimit: Int, lookupMax: Int, scimMax: Int?) -> DescriptorBudget {
        let usable = descriptorLimit - reserve
        guard usable >= 8 else {
            // Too few to split: serve anyway (the lanes pause accepting on EMFILE), but say so.
            let scim = max(1, min(scimMax ?? Int.max, descriptorLimit / 4))
            return DescriptorBudget(
                lookupConnections: lookupMax, scimConnections: scim,
                warnings: [
                    "the descriptor limit (\(descriptorLimit)) is below what rosterd keeps in reserve (\(reserve)): "
                        + "connections may fail with EMFILE; raise it with `ulimit -n` or the service's LimitNOFILE="
                ])
        }
        var warnings: [String] = []
        var scim: Int
        if let scimMax {
            scim = min(scimMax, usable - 1)
            if scim < scimMax {
                warnings.append(
                    "--scim-max-connections \(scimMax) lowered to \(scim): the descriptor limit is \(descriptorLimit) "
                        + "and rosterd keeps \(reserve) for itself")
            }
        } else {
            // What the lookup socket leaves, but never less than a quarter of what there is.
            scim = min(max(usable - lookupMax, usable / 4, 1), maxDefaultSCIMConnections)
        }
        let lookup = min(lookupMax, usable - scim)
        if lookup < lookupMax {
            warnings.append(
                "--max-connections \(lookupMax) lowered to \(lookup): the descriptor limit is \(descriptorLimit), "
                    + "\(scim) go to SCIM connections and \(reserve) are kept in reserve; raise the limit "
                    + "(ulimit -n, LimitNOFILE=) to allow more")
        }
        return DescriptorBudget(lookupConnections: lookup, scimConnections: scim, warnings: warnings)
    }
}

enum DescriptorLimit {
    /// Raises the soft RLIMIT_NOFILE to the hard limit (to `/proc/sys/fs/nr_open` when the hard
    /// limit is unlimited). Returns the soft limit in force afterwards, and the one before.
    static func raiseToHard() -> (current: Int, before: Int) {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return (1024, 1024) }
        let before = limit.rlim_cur
        var target = limit.rlim_max
        if target == rlim_t.max { target = rlim_t(kernelMaximum()) }
        if target > limit.rlim_cur {
            var raised = limit
            raised.rlim_cur = target
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { limit = raised }
        }
        return (clamp(limit.rlim_cur), clamp(before))
    }

    private static func clamp(_ value: rlim_t) -> Int {
        value == rlim_t.max || value > rlim_t(Int32.max) ? Int(Int32.max) : Int(value)
    }

    private static func kernelMaximum() -> Int {
        let text = (try? String(contentsOfFile: "/proc/sys/fs/nr_open", encoding: .utf8)) ?? ""
        return Int(text.trimmingCharacters(in: .whitespacesAndNewlines)).flatMap { $0 > 0 ? $0 : nil } ?? 1 << 20
    }
}
