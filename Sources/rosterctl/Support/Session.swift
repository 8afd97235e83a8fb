import RosterClient

/// A leaf command: it carries the shared options, so `main` knows whether a failure must be
/// printed as JSON.
protocol RosterCommand {
    var global: GlobalOptions { get }
}

extension GlobalOptions {
    var output: Output { Output(json: json) }

    /// Connects to rosterd, runs `body` with the client, closes the connection, and turns every
    /// error into a `CLIFailure` with an exit code and a next step.
    func withClient<Result>(
        hints: CLIFailure.Hints = CLIFailure.Hints(),
        _ body: (RosterClient) async throws -> Result
    ) async throws -> Result {
        let path = socketPath
        let client: RosterClient
        do {
            var configuration = RosterClient.Configuration()
            configuration.connectTimeout = .seconds(5)
            client = try await RosterClient.connect(socketPath: path, configuration: configuration)
        } catch {
            throw CLIFailure.from(error, socketPath: path, hints: hints)
        }
        do {
            let result = try await body(client)
            await client.close()
            return result
        } catch {
            await client.close()
            throw CLIFailure.from(error, socketPath: path, hints: hints)
        }
    }
}
