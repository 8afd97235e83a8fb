-- A Roster database at schema v1, written by rosterd itself (commit a208912, migration "v1"):
-- directory 'fixture' (okta); alice (member of Admins and Staff), bob (suspended, so removed from
-- Admins), carol (Staff), dave (deleted, removed from Admins). Dumped with Python's sqlite3 iterdump.
-- Never edit: RosterStoreTests opens it to prove that every later binary recovers a v1 database.
-- ids: directory 3466d4fb-1086-453a-aa73-a0e5fdc28e9f; alice 7c875c2b-776a-44e3-bfbf-fb8282d408a3; bob 94728b10-267a-457d-8e56-36e1959abc73; carol 4cc13d91-154d-4902-a96d-619a51b6ce33; dave 70d53aca-6b93-49bc-a380-1210fcf8eb3e; Admins 40a57fd3-3bcf-45e0-97a8-12c12860957e; Staff 252a86e6-8b36-42a8-a463-d626b2b847c4
BEGIN TRANSACTION;
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
INSERT INTO "audit" VALUES(1,1,1795987981328,'3466d4fb-1086-453a-aa73-a0e5fdc28e9f',NULL,'ADMIN','CreateDirectory',201,'ok','',1276);
INSERT INTO "audit" VALUES(2,2,1795987987958,'3466d4fb-1086-453a-aa73-a0e5fdc28e9f','okta','POST','/scim/v2/3466d4fb-1086-453a-aa73-a0e5fdc28e9f/Users',201,'ok','',3443);
INSERT INTO "audit" VALUES(3,3,1795987988058,'3466d4fb-1086-453a-aa73-a0e5fdc28e9f','okta','POST','/scim/v2/3466d4fb-1086-453a-aa73-a0e5fdc28e9f/Users',201,'ok','',965);
INSERT INTO "audit" VALUES(4,4,1795987988156,'3466d4fb-1086-453a-aa73-a0e5fdc28e9f','okta','POST','/scim/v2/3466d4fb-1086-453a-aa73-a0e5fdc28e9f/Users',201,'ok','',1213);
INSERT INTO "audit" VALUES(5,5,1795987988252,'3466d4fb-1086-453a-aa73-a0e5fdc28e9f','okta','POST','/scim/v2/3466d4fb-1086-453a-aa73-a0e5fdc28e9f/Users',201,'ok','',1039);
INSERT INTO "audit" VALUES(6,6,1795987988344,'3466d4fb-1086-453a-aa73-a0e5fdc28e9f','okta','POST','/scim/v2/3466d4fb-1086-453a-aa73-a0e5fdc28e9f/Groups',201,'ok','',1588);
INSERT INTO "audit" VALUES(7,7,1795987988431,'3466d4fb-1086-453a-aa73-a0e5fdc28e9f','okta','POST','/scim/v2/3466d4fb-1086-453a-aa73-a0e5fdc28e9f/Groups',201,'ok','',910);
INSERT INTO "audit" VALUES(8,8,1795987988517,'3466d4fb-1086-453a-aa73-a0e5fdc28e9f','okta','PATCH','/scim/v2/3466d4fb-1086-453a-aa73-a0e5fdc28e9f/Users/94728b10-267a-457d-8e56-36e1959abc73',200,'ok','',1410);
INSERT INTO "audit" VALUES(9,9,1795987988527,'3466d4fb-1086-453a-aa73-a0e5fdc28e9f','okta','DELETE','/scim/v2/3466d4fb-1086-453a-aa73-a0e5fdc28e9f/Users/70d53aca-6b93-49bc-a380-1210fcf8eb3e',204,'ok','',735);
CREATE TABLE directories (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    provider TEXT NOT NULL CHECK (provider IN ('okta','entra','onelogin','jumpcloud','generic')),
    policy TEXT NOT NULL CHECK (policy IN ('revoke','retain')),
    created_at INTEGER NOT NULL,
    token_hash BLOB,
    previous_token_hash BLOB
);
INSERT INTO "directories" VALUES('3466d4fb-1086-453a-aa73-a0e5fdc28e9f','fixture','okta','revoke',1795987981328,X'F3B6882B331E7CC039653B678C24F47049CA30558BFD7108204D892260FDD840',NULL);
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
INSERT INTO "events" VALUES(1,0,'3466d4fb-1086-453a-aa73-a0e5fdc28e9f','directory.created',NULL,NULL,'admin',1795987981328);
INSERT INTO "events" VALUES(2,0,'3466d4fb-1086-453a-aa73-a0e5fdc28e9f','user.created','7c875c2b-776a-44e3-bfbf-fb8282d408a3',NULL,'request',1795987987958);
INSERT INTO "events" VALUES(3,0,'3466d4fb-1086-453a-aa73-a0e5fdc28e9f','user.created','94728b10-267a-457d-8e56-36e1959abc73',NULL,'request',1795987988058);
INSERT INTO "events" VALUES(4,0,'3466d4fb-1086-453a-aa73-a0e5fdc28e9f','user.created','4cc13d91-154d-4902-a96d-619a51b6ce33',NULL,'request',1795987988156);
INSERT INTO "events" VALUES(5,0,'3466d4fb-1086-453a-aa73-a0e5fdc28e9f','user.created','70d53aca-6b93-49bc-a380-1210fcf8eb3e',NULL,'request',1795987988252);
INSERT INTO "events" VALUES(6,0,'3466d4fb-1086-453a-aa73-a0e5fdc28e9f','group.created',NULL,'40a57fd3-3bcf-45e0-97a8-12c12860957e','request',1795987988344);
INSERT INTO "events" VALUES(6,1,'3466d4fb-1086-453a-aa73-a0e5fdc28e9f','group.user_added','7c875c2b-776a-44e3-bfbf-fb8282d408a3','40a57fd3-3bcf-45e0-97a8-12c12860957e','request',1795987988344);
INSERT INTO "events" VALUES(6,2,'3466d4fb-1086-453a-aa73-a0e5fdc28e9f','group.user_added','94728b10-267a-457d-8e56-36e1959abc73','40a57fd3-3bcf-45e0-97a8-12c12860957e','request',1795987988344);
INSERT INTO "events" VALUES(6,3,'3466d4fb-1086-453a-aa73-a0e5fdc28e9f','group.user_added','70d53aca-6b93-49bc-a380-1210fcf8eb3e','40a57fd3-3bcf-45e0-97a8-12c12860957e','request',1795987988344);
INSERT INTO "events" VALUES(7,0,'3466d4fb-1086-453a-aa73-a0e5fdc28e9f','group.created',NULL,'252a86e6-8b36-42a8-a463-d626b2b847c4','request',1795987988431);
INSERT INTO "events" VALUES(7,1,'3466d4fb-1086-453a-aa73-a0e5fdc28e9f','group.user_added','7c875c2b-776a-44e3-bfbf-fb8282d408a3','252a86e6-8b36-42a8-a463-d626b2b847c4','request',1795987988431);
INSERT INTO "events" VALUES(7,2,'3466d4fb-1086-453a-aa73-a0e5fdc28e9f','group.user_added','4cc13d91-154d-4902-a96d-619a51b6ce33','252a86e6-8b36-42a8-a463-d626b2b847c4','request',1795987988431);
INSERT INTO "events" VALUES(8,0,'3466d4fb-1086-453a-aa73-a0e5fdc28e9f','group.user_removed','94728b10-267a-457d-8e56-36e1959abc73','40a57fd3-3bcf-45e0-97a8-12c12860957e','user_suspended',1795987988517);
INSERT INTO "events" VALUES(8,1,'3466d4fb-1086-453a-aa73-a0e5fdc28e9f','user.suspended','94728b10-267a-457d-8e56-36e1959abc73',NULL,'request',1795987988517);
INSERT INTO "events" VALUES(9,0,'3466d4fb-1086-453a-aa73-a0e5fdc28e9f','group.user_removed','70d53aca-6b93-49bc-a380-1210fcf8eb3e','40a57fd3-3bcf-45e0-97a8-12c12860957e','user_deleted',1795987988527);
INSERT INTO "events" VALUES(9,1,'3466d4fb-1086-453a-aa73-a0e5fdc28e9f','user.deleted','70d53aca-6b93-49bc-a380-1210fcf8eb3e',NULL,'request',1795987988527);
CREATE TABLE grdb_migrations (identifier TEXT NOT NULL PRIMARY KEY);
INSERT INTO "grdb_migrations" VALUES('v1');
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
INSERT INTO "groups" VALUES(1,'40a57fd3-3bcf-45e0-97a8-12c12860957e','3466d4fb-1086-453a-aa73-a0e5fdc28e9f','Admins','admins','00g1',9,1795987988344,1795987988527,'{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Admins","externalId":"00g1"}');
INSERT INTO "groups" VALUES(2,'252a86e6-8b36-42a8-a463-d626b2b847c4','3466d4fb-1086-453a-aa73-a0e5fdc28e9f','Staff','staff',NULL,7,1795987988431,1795987988431,'{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Staff"}');
CREATE TABLE memberships (
    group_key INTEGER NOT NULL REFERENCES groups(key) ON DELETE CASCADE,
    user_key INTEGER NOT NULL REFERENCES users(key) ON DELETE CASCADE,
    PRIMARY KEY (group_key, user_key)
) WITHOUT ROWID;
INSERT INTO "memberships" VALUES(1,1);
INSERT INTO "memberships" VALUES(2,1);
INSERT INTO "memberships" VALUES(2,3);
CREATE TABLE meta (key TEXT PRIMARY KEY NOT NULL, value INTEGER NOT NULL) WITHOUT ROWID;
INSERT INTO "meta" VALUES('revision',9);
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
INSERT INTO "users" VALUES(1,'7c875c2b-776a-44e3-bfbf-fb8282d408a3','3466d4fb-1086-453a-aa73-a0e5fdc28e9f','alice@example.com','alice@example.com','00u1',NULL,'active',7,1795987987958,1795987988431,'{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"alice@example.com","externalId":"00u1","name":{"givenName":"Alice","familyName":"Ng"},"emails":[{"value":"alice@example.com","type":"work","primary":true}],"active":true,"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"Ops"}}');
INSERT INTO "users" VALUES(2,'94728b10-267a-457d-8e56-36e1959abc73','3466d4fb-1086-453a-aa73-a0e5fdc28e9f','Bob@Example.com','bob@example.com','00u2',NULL,'suspended',8,1795987988058,1795987988517,'{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"Bob@Example.com","externalId":"00u2","active":false}');
INSERT INTO "users" VALUES(3,'4cc13d91-154d-4902-a96d-619a51b6ce33','3466d4fb-1086-453a-aa73-a0e5fdc28e9f','carol@example.com','carol@example.com',NULL,NULL,'active',7,1795987988156,1795987988431,'{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"carol@example.com","active":true}');
INSERT INTO "users" VALUES(4,'70d53aca-6b93-49bc-a380-1210fcf8eb3e','3466d4fb-1086-453a-aa73-a0e5fdc28e9f','dave@example.com','dave@example.com',NULL,NULL,'deleted',9,1795987988252,1795987988527,'{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"dave@example.com","active":true}');
CREATE UNIQUE INDEX users_live_user_name ON users (directory_id, user_name_lower) WHERE state <> 'deleted';
CREATE UNIQUE INDEX users_live_external_id ON users (directory_id, external_id)
    WHERE state <> 'deleted' AND external_id IS NOT NULL;
CREATE INDEX users_directory ON users (directory_id, key);
CREATE UNIQUE INDEX groups_external_id ON groups (directory_id, external_id) WHERE external_id IS NOT NULL;
CREATE INDEX groups_display_name ON groups (directory_id, display_name_lower);
CREATE INDEX groups_directory ON groups (directory_id, key);
CREATE INDEX memberships_user ON memberships (user_key);
CREATE TRIGGER memberships_only_for_members BEFORE INSERT ON memberships
WHEN (SELECT u.state = 'deleted' OR (u.state = 'suspended' AND d.policy = 'revoke')
      FROM users u JOIN directories d ON d.id = u.directory_id WHERE u.key = NEW.user_key)
BEGIN SELECT RAISE(ABORT, 'membership refused: the user is not active'); END;
CREATE INDEX events_directory ON events (directory_id, revision);
CREATE INDEX audit_directory_time ON audit (directory_id, time);
DELETE FROM "sqlite_sequence";
INSERT INTO "sqlite_sequence" VALUES('audit',9);
COMMIT;
