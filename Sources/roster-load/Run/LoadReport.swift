import Histogram

/// The outcome of a run, as a human summary or one JSON object.
///
/// The JSON object starts with the contract keys, in this order: `checks_per_second`, `p50_us`,
/// `p90_us`, `p99_us`, `p999_us`, `max_us`, `errors`, `wrong`; more keys follow.
struct LoadReport {
    var label: String?
    var connections: Int
    var pipeline: Int
    var batch: Int
    var threads: Int
    var seconds: Double
    var queries: Int
    var expectedAllow: Int
    var stats: ConnectionStats
    var memory: MemorySummary?

    var checksPerSecond: Double { Double(stats.checks) / seconds }
    var callsPerSecond: Double { Double(stats.calls) / seconds }

    /// Latency at `percentile` in microseconds (0 when nothing was recorded).
    func micros(_ percentile: Double) -> Double {
        guard stats.histogram.totalCount > 0 else { return 0 }
        return Double(stats.histogram.valueAtPercentile(percentile)) / 1000
    }

    var maxMicros: Double {
        stats.histogram.totalCount > 0 ? Double(stats.histogram.max) / 1000 : 0
    }

    func json() -> String {
        var fields: [(String, String)] = [
            ("checks_per_second", Self.number(checksPerSecond, decimals: 1)),
            ("p50_us", Self.number(micros(50), decimals: 2)),
            ("p90_us", Self.number(micros(90), decimals: 2)),
            ("p99_us", Self.number(micros(99), decimals: 2)),
            ("p999_us", Self.number(micros(99.9), decimals: 2)),
            ("max_us", Self.number(maxMicros, decimals: 2)),
            ("errors", "\(stats.errors)"),
            ("wrong", "\(stats.wrong)"),
            ("calls_per_second", Self.number(callsPerSecond, decimals: 1)),
            ("checks", "\(stats.checks)"),
            ("calls", "\(stats.calls)"),
            ("answered_checks", "\(stats.answeredChecks)"),
            ("allow_answers", "\(stats.allowAnswers)"),
            ("seconds", Self.number(seconds, decimals: 3)),
            ("connections", "\(connections)"),
            ("pipeline", "\(pipeline)"),
            ("batch", "\(batch)"),
            ("threads", "\(threads)"),
            ("queries", "\(queries)"),
            ("expected_allow", "\(expectedAllow)"),
            ("client", Self.string("roster-load (Swift, NIO)")),
        ]
        if let memory {
            fields.append(("server_rss_kb_start", "\(memory.startKB)"))
            fields.append(("server_rss_kb_end", "\(memory.endKB)"))
            fields.append(("server_rss_kb_max", "\(memory.maxKB)"))
            fields.append(("server_rss_samples", "\(memory.samples)"))
        }
        if let label { fields.append(("label", Self.string(label))) }
        if !stats.firstErrors.isEmpty {
            fields.append(("first_errors", "[" + stats.firstErrors.map(Self.string).joined(separator: ",") + "]"))
        }
        return "{" + fields.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",") + "}"
    }

    func summary() -> String {
        let kind = batch == 1 ? "Check" : "BatchCheck of \(batch)"
        var lines: [String] = []
        lines.append(
            "roster-load: \(connections) connection\(connections == 1 ? "" : "s") × \(pipeline) in flight, \(kind), "
                + "\(Self.number(seconds, decimals: 1)) s measured" + (label.map { " [\($0)]" } ?? ""))
        lines.append(
            "  throughput  \(Self.grouped(checksPerSecond)) checks/s"
                + (batch == 1 ? "" : " (\(Self.grouped(callsPerSecond)) calls/s)"))
        lines.append(
            "  latency µs  p50 \(Self.number(micros(50), decimals: 1))  p90 \(Self.number(micros(90), decimals: 1))  "
                + "p99 \(Self.number(micros(99), decimals: 1))  p99.9 \(Self.number(micros(99.9), decimals: 1))  "
                + "max \(Self.number(maxMicros, decimals: 1))")
        let allowShare = stats.answeredChecks > 0 ? 100 * Double(stats.allowAnswers) / Double(stats.answeredChecks) : 0
        lines.append(
            "  answers     \(Self.grouped(Double(stats.answeredChecks))) checked: \(stats.wrong) wrong, "
                + "\(stats.errors) errors (\(Self.number(allowShare, decimals: 1))% allowed)")
        if let memory {
            lines.append(
                "  server RSS  \(Self.mebibytes(memory.startKB)) → \(Self.mebibytes(memory.endKB)) "
                    + "(max \(Self.mebibytes(memory.maxKB)), \(memory.samples) samples)")
        }
        for error in stats.firstErrors { lines.append("  error: \(error)") }
        return lines.joined(separator: "\n")
    }

    static func number(_ value: Double, decimals: Int) -> String {
        guard value.isFinite else { return "0" }
        var scale = 1.0
        for _ in 0..<decimals { scale *= 10 }
        let rounded = (value * scale).rounded() / scale
        var text = "\(rounded)"
        if text.hasSuffix(".0") && decimals == 0 { text.removeLast(2) }
        return text
    }

    static func grouped(_ value: Double) -> String {
        let whole = Int(value.rounded())
        let digits = String(whole)
        var out = ""
        for (offset, character) in digits.reversed().enumerated() {
            if offset > 0 && offset % 3 == 0 { out.append(",") }
            out.append(character)
        }
        return String(out.reversed())
    }

    static func mebibytes(_ kilobytes: Int) -> String {
        number(Double(kilobytes) / 1024, decimals: 1) + " MiB"
    }

    static func string(_ value: String) -> String {
        var out = "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    out += "\\u" + String(repeating: "0", count: 4 - String(scalar.value, radix: 16).count)
                        + String(scalar.value, radix: 16)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}
