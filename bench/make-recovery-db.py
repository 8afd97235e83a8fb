#!/usr/bin/env python3
"""Fills an empty Roster database (schema made by rosterd) with a large, valid dataset.

Rows follow the rules: every user active, memberships only for active users, keys dense from 1,
one event per entity is NOT written (recovery loads state tables, not the log). Deterministic.
Usage: make-recovery-db.py DB USERS GROUPS PER_USER
"""
import random
import sqlite3
import sys
import uuid

db, users, groups, per_user = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
rng = random.Random(42)
con = sqlite3.connect(db, isolation_level=None)  # explicit BEGIN/COMMIT below
con.execute("PRAGMA journal_mode=WAL")
con.execute("PRAGMA synchronous=OFF")
directory = "00000000-0000-4000-8000-00000000d1d1"
now = 1_700_000_000_000
con.execute("INSERT INTO directories (id, name, provider, policy, created_at) VALUES (?, 'bench', 'generic', 'revoke', ?)",
            (directory, now))

def uid(kind, n):
    return str(uuid.UUID(int=(kind << 120) | (n << 8) | 0x42, version=4))

con.execute("BEGIN")
con.executemany(
    "INSERT INTO users (key, id, directory_id, user_name, user_name_lower, external_id, display_name, state, version,"
    " created_at, modified_at, resource) VALUES (?, ?, ?, ?, ?, NULL, NULL, 'active', 1, ?, ?, ?)",
    ((n, uid(1, n), directory, f"user{n}@example.com", f"user{n}@example.com", now, now,
      f'{{"userName":"user{n}@example.com","active":true}}') for n in range(1, users + 1)))
con.executemany(
    "INSERT INTO groups (key, id, directory_id, display_name, display_name_lower, external_id, version, created_at,"
    " modified_at, resource) VALUES (?, ?, ?, ?, ?, NULL, 1, ?, ?, ?)",
    ((n, uid(2, n), directory, f"group {n}", f"group {n}", now, now, f'{{"displayName":"group {n}"}}')
     for n in range(1, groups + 1)))

def pairs():
    for u in range(1, users + 1):
        for g in rng.sample(range(1, groups + 1), per_user):
            yield (g, u)

con.execute("DROP TRIGGER IF EXISTS memberships_only_for_members")
con.executemany("INSERT INTO memberships (group_key, user_key) VALUES (?, ?)", pairs())
con.execute(
    "CREATE TRIGGER memberships_only_for_members BEFORE INSERT ON memberships "
    "WHEN (SELECT u.state = 'deleted' OR (u.state = 'suspended' AND d.policy = 'revoke') "
    "FROM users u JOIN directories d ON d.id = u.directory_id WHERE u.key = NEW.user_key) "
    "BEGIN SELECT RAISE(ABORT, 'membership refused: the user is not active'); END")
con.execute("UPDATE meta SET value = 1 WHERE key = 'revision'")
con.execute("COMMIT")
con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
con.close()
