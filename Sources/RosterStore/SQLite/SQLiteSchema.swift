import GRDB

/// The database schema, as a list of migrations. A shipped migration is never edited: a change
/// is a new migration appended at the end. The schema itself enforces the rules it can (unique
/// live userNames, no membership for a deleted user, or a suspended one under `revoke`).
enum SQLiteSchema {
    static let latestVersion = "v1"

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE meta (key TEXT PRIMARY KEY NOT NULL, value INTEGER NOT NULL) WITHOUT ROWID;
                    INSERT INTO meta (key, value) VALUES ('revision', 0);

                    CREATE TABLE directories (
                        id TEXT PRIMARY KEY NOT NULL,
                        name TEXT NOT NULL,
                        provider TEXT NOT NULL CHECK (provider IN ('okta','entra','onelogin','jumpcloud','generic')),
                        policy TEXT NOT NULL CHECK (policy IN ('revoke','retain')),
                        created_at INTEGER NOT NULL,
                        token_hash BLOB,
                        previous_token_hash BLOB
                    );

                    CREATE TABLE users (
                        key INTEGER PRIMARY KEY NOT NULL,
                        id TEXT NOT NULL UNIQUE,
                        directory_id TEXT NOT NULL REFERENCES directories(id) ON DELETE CASCADE,
                        user_name TEXT NOT NULL,
                        user_name_lower TEXT NOT NULL,
                        external_id TEXT,
                        display_name TEXT,
                        state TEXT NOT NULL CHECK (state IN ('active','suspended','deleted')),
                        version INTEGER NOT NULL,
                        created_at INTEGER NOT NULL,
                        modified_at INTEGER NOT NULL,
                        resource TEXT NOT NULL
                    );
                    CREATE UNIQUE INDEX users_live_user_name ON users (directory_id, user_name_lower) WHERE state <> 'deleted';
                    CREATE UNIQUE INDEX users_live_external_id ON users (directory_id, external_id)
                        WHERE state <> 'deleted' AND external_id IS NOT NULL;
                    CREATE INDEX users_directory ON users (directory_id, key);

                    CREATE TABLE groups (
                        key INTEGER PRIMARY KEY NOT NULL,
                        id TEXT NOT NULL UNIQUE,
                        directory_id TEXT NOT NULL REFERENCES directories(id) ON DELETE CASCADE,
                        display_name TEXT NOT NULL,
                        display_name_lower TEXT NOT NULL,
                        external_id TEXT,
                        version INTEGER NOT NULL,
                        created_at INTEGER NOT NULL,
                        modified_at INTEGER NOT NULL,
                        resource TEXT NOT NULL
                    );
                    CREATE UNIQUE INDEX groups_external_id ON groups (directory_id, external_id) WHERE external_id IS NOT NULL;
                    CREATE INDEX groups_display_name ON groups (directory_id, display_name_lower);
                    CREATE INDEX groups_directory ON groups (directory_id, key);

                    CREATE TABLE memberships (
                        group_key INTEGER NOT NULL REFERENCES groups(key) ON DELETE CASCADE,
                        user_key INTEGER NOT NULL REFERENCES users(key) ON DELETE CASCADE,
                        PRIMARY KEY (group_key, user_key)
                    ) WITHOUT ROWID;
                    CREATE INDEX memberships_user ON memberships (user_key);

                    -- An inactive user is never a member: refuse the row whatever code path wrote it.
                    CREATE TRIGGER memberships_only_for_members BEFORE INSERT ON memberships
                    WHEN (SELECT u.state = 'deleted' OR (u.state = 'suspended' AND d.policy = 'revoke')
                          FROM users u JOIN directories d ON d.id = u.directory_id WHERE u.key = NEW.user_key)
                    BEGIN SELECT RAISE(ABORT, 'membership refused: the user is not active'); END;

                    CREATE TABLE events (
                        revision INTEGER NOT NULL,
                        seq INTEGER NOT NULL,
                        directory_id TEXT NOT NULL,
                        kind TEXT NOT NULL,
                        user_id TEXT,
                        group_id TEXT,
                        cause TEXT NOT NULL,
                        time INTEGER NOT NULL,
                        PRIMARY KEY (revision, seq)
                    ) WITHOUT ROWID;
                    CREATE INDEX events_directory ON events (directory_id, revision);

                    CREATE TABLE audit (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        revision INTEGER,
                        time INTEGER NOT NULL,
                        directory_id TEXT,
                        provider TEXT,
                        method TEXT NOT NULL,
                        path TEXT NOT NULL,
                        status INTEGER NOT NULL,
                        outcome TEXT NOT NULL,
                        detail TEXT NOT NULL,
                        duration_us INTEGER NOT NULL
                    );
                    CREATE INDEX audit_directory_time ON audit (directory_id, time);
                    """)
        }
        return migrator
    }
}
