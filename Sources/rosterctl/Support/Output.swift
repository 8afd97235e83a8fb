import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Writes a command's result: human text, or with `--json` one JSON object per line.
///
/// Every write goes straight to the file descriptor, so a pipe (`rosterctl watch --json | jq`) sees each line as
/// it happens and nothing is lost when the process exits.
struct Output: Sendable {
    let json: Bool

    /// Prints `value` in JSON mode, else the human text (when not empty).
    func emit(_ value: JSON, human: () -> String) {
        if json {
            Self.write(value.serialized + "\n", to: .stdout)
        } else {
            let text = human()
            if !text.isEmpty { Self.write(text.hasSuffix("\n") ? text : text + "\n", to: .stdout) }
        }
    }

    /// A note for humans on standard error (hints, progress); silent in JSON mode.
    func note(_ text: String) {
        guard !json else { return }
        Self.write(text + "\n", to: .stderr)
    }

    /// Reports a failure: the message on standard error, and in JSON mode the error object as
    /// the last line of standard output.
    func fail(_ failure: CLIFailure) {
        Self.write("rosterctl: " + failure.message + "\n", to: .stderr)
        if json { Self.write(failure.json.serialized + "\n", to: .stdout) }
    }

    /// The two streams rosterctl writes, as file descriptors: unbuffered, so nothing waits in a
    /// buffer when a pipe is read line by line or the process exits.
    enum Stream: Int32 {
        case stdout = 1
        case stderr = 2
    }

    static func write(_ text: String, to stream: Stream) {
        var bytes = Array(text.utf8)[...]
        while !bytes.isEmpty {
            let written = bytes.withUnsafeBytes { Glibc.write(stream.rawValue, $0.baseAddress, $0.count) }
            if written < 0 {
                if errno == EINTR { continue }
                return  // a closed pipe: nothing more can be said
            }
            bytes = bytes.dropFirst(written)
        }
    }
}
