/// Why the store could not open, or could not complete a write. Messages name the file or the
/// limit involved and what to do about it.
public struct StoreError: Error, Sendable, Hashable, CustomStringConvertible {
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Wrapped: String, Sendable, Hashable {
            case locked, unwritable, corrupt, schemaTooNew, invariantBroken, io, notFound, exists, closed, invalidPath
            case configuration, unavailable, stale
        }
        private let wrapped: Wrapped
        private init(_ wrapped: Wrapped) { self.wrapped = wrapped }

        /// Another daemon holds the data directory.
        public static let locked = Code(.locked)
        /// The data directory or database cannot be created or written.
        public static let unwritable = Code(.unwritable)
        /// The database file is damaged or is not a Roster database.
        public static let corrupt = Code(.corrupt)
        /// The database was written by a newer Roster.
        public static let schemaTooNew = Code(.schemaTooNew)
        /// The stored rows break a model invariant.
        public static let invariantBroken = Code(.invariantBroken)
        /// SQLite reported an I/O error, a full disk or a busy database while writing.
        public static let io = Code(.io)
        public static let notFound = Code(.notFound)
        public static let exists = Code(.exists)
        /// The store is shutting down.
        public static let closed = Code(.closed)
        /// A setting of the store (a database URL, a flag) cannot be used as given.
        public static let configuration = Code(.configuration)
        /// The database cannot be reached (down, or the connection was lost); retry later.
        public static let unavailable = Code(.unavailable)
        /// This instance can no longer follow the database's change log (it was pruned past this
        /// instance's revision, or the database was rewound or restored): it must load a new snapshot.
        public static let stale = Code(.stale)
        /// A path given by the caller cannot be used (a missing or unwritable directory).
        public static let invalidPath = Code(.invalidPath)

        public var description: String { wrapped.rawValue }
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }

    public static func == (lhs: StoreError, rhs: StoreError) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }
}
