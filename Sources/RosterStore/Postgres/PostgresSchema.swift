import Foundation

/// The fleet's tables in PostgreSQL. The same rows as the SQLite schema, plus what a fleet needs:
/// `roster_head` (the one row every writer locks, so revisions form one gapless order across
/// instances), `roster_changelog` (each revision's row effects, which followers replay) and
/// `roster_instances` (each instance's heartbeat: the fleet view).
///
/// Migrations run under an advisory lock, so instances starting together do not race; each is a
/// step appended to `steps`, never edited once shipped. `roster_schema.version` says how many ran.
/// An instance refuses a database whose version is newer than the steps it knows.
enum PostgresSchema {
    /// pg_advisory_lock key for migrations ("roster" in ASCII, as a number).
    static let migrationLock: Int64 = 0x726F_7374_6572

    /// The statements of a step, one by one (the extended protocol takes one at a time). Steps
    /// end each statement with ";" at the end of a line, and hold no function bodies.
    static func statements(of step: String) -> [String] {
        step.components(separatedBy: ";\n").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
            .map { $0.hasSuffix(";") ? String($0.dropLast()) : $0 }.filter { !$0.isEmpty }
    }

    static let steps: [String] = [
        """
        CREATE TABLE roster_head (
            id integer PRIMARY KEY CHECK (id = 1),
            revision bigint NOT NULL,
            generation text NOT NULL
        );
        INSERT INTO roster_head (id, revision, generation) VALUES (1, 0, md5(random()::text || clock_timestamp()::text));

        CREATE TABLE roster_changelog (
            revision bigint PRIMARY KEY,
            payload text NOT NULL,
            committed_at bigint NOT NULL
        );

        CREATE TABLE roster_instances (
            name text PRIMARY KEY,
            pid integer NOT NULL,
            applied_revision bigint NOT NULL,
            seen_at bigint NOT NULL,
            started_at bigint NOT NULL
        );

        CREATE TABLE directories (
            id text PRIMARY KEY,
            name text NOT NULL,
            provider text NOT NULL CHECK (provider IN ('okta','entra','onelogin','jumpcloud','generic')),
            policy text NOT NULL CHECK (policy IN ('revoke','retain')),
            created_at bigint NOT NULL,
            token_hash bytea,
            previous_token_hash bytea
        );

        CREATE TABLE users (
            key bigint PRIMARY KEY,
            id text NOT NULL UNIQUE,
            directory_id text NOT NULL REFERENCES directories(id) ON DELETE CASCADE,
            user_name text NOT NULL,
            user_name_lower text NOT NULL,
            external_id text,
            display_name text,
            state text NOT NULL CHECK (state IN ('active','suspended','deleted')),
            version bigint NOT NULL,
            created_at bigint NOT NULL,
            modified_at bigint NOT NULL,
            resource text NOT NULL
        );
        CREATE UNIQUE INDEX users_live_user_name ON users (directory_id, user_name_lower) WHERE state <> 'deleted';
        CREATE UNIQUE INDEX users_live_external_id ON users (directory_id, external_id)
            WHERE state <> 'deleted' AND external_id IS NOT NULL;
        CREATE INDEX users_directory ON users (directory_id, key);

        CREATE TABLE groups (
            key bigint PRIMARY KEY,
            id text NOT NULL UNIQUE,
            directory_id text NOT NULL REFERENCES directories(id) ON DELETE CASCADE,
            display_name text NOT NULL,
            display_name_lower text NOT NULL,
            external_id text,
            version bigint NOT NULL,
            created_at bigint NOT NULL,
            modified_at bigint NOT NULL,
            resource text NOT NULL
        );
        CREATE UNIQUE INDEX groups_external_id ON groups (directory_id, external_id) WHERE external_id IS NOT NULL;
        CREATE INDEX groups_directory ON groups (directory_id, key);

        CREATE TABLE memberships (
            group_key bigint NOT NULL REFERENCES groups(key) ON DELETE CASCADE,
            user_key bigint NOT NULL REFERENCES users(key) ON DELETE CASCADE,
            PRIMARY KEY (group_key, user_key)
        );
        CREATE INDEX memberships_user ON memberships (user_key);

        CREATE TABLE events (
            revision bigint NOT NULL,
            seq integer NOT NULL,
            directory_id text NOT NULL,
            kind text NOT NULL,
            user_id text,
            group_id text,
            cause text NOT NULL,
            time bigint NOT NULL,
            PRIMARY KEY (revision, seq)
        );
        CREATE INDEX events_directory ON events (directory_id, revision);

        CREATE TABLE audit (
            id bigserial PRIMARY KEY,
            revision bigint,
            time bigint NOT NULL,
            directory_id text,
            provider text,
            method text NOT NULL,
            path text NOT NULL,
            status integer NOT NULL,
            outcome text NOT NULL,
            detail text NOT NULL,
            duration_us bigint NOT NULL
        );
        CREATE INDEX audit_directory_time ON audit (directory_id, time);
        CREATE INDEX audit_time ON audit (time);
        """
    ]
}
