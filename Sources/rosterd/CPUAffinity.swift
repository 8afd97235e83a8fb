import Foundation

/// The CPUs this process may run on, as set by taskset, a cpuset or a container runtime.
enum CPUAffinity {
    /// How many CPUs the affinity mask allows (`Cpus_allowed` in /proc/self/status, a hex mask
    /// in comma-separated 32-bit groups); nil where it cannot be read.
    static var allowedCPUCount: Int? {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Cpus_allowed:") })
        else { return nil }
        return count(mask: line.dropFirst("Cpus_allowed:".count))
    }

    /// The number of set bits in a mask such as `ff,00000003`; nil if it is not one.
    static func count(mask: Substring) -> Int? {
        var total = 0
        for group in mask.split(separator: ",") {
            guard let bits = UInt32(group.trimmingCharacters(in: .whitespaces), radix: 16) else { return nil }
            total += bits.nonzeroBitCount
        }
        return total > 0 ? total : nil
    }
}
