#!/usr/bin/env python3
"""The plan of every hot statement, on PostgreSQL and on SQLite.

    python3 crates/server/benches/explain.py postgres://postgres@127.0.0.1:5432/DB
    python3 crates/server/benches/explain.py sqlite:///path/to/portcullis.db

Run it against a database with history in it (`load.sh history` seeds one, or any running
node's). On PostgreSQL each statement is prepared and explained with its *generic* plan, the
plan a long-running node's prepared statements end up with whatever the parameters; the
rotation's statements run under the settings the rotation sets for its transaction
(`enable_seqscan`, `enable_hashjoin`, `enable_mergejoin` off: crates/store/src/rotate.rs). A
plan line with a sequential scan of a large table is flagged `<-- SCAN`. The statements are
copied from the store (crates/store/src/*.rs) as the node sends them.
"""

import re
import sqlite3
import subprocess
import sys

LIST = "= ANY(ARRAY(SELECT jsonb_array_elements_text({p}::jsonb)))"
SQLITE_LIST = "IN (SELECT value FROM json_each({p}))"
GATE = "id, status, cutoff_at, cutoff_except_at, cutoff_except_sid, updated_at"

# (name, rotation settings?, PostgreSQL text, SQLite text or None, parameters)
HOT = [
    ("refresh: lock the users (share)", True,
     f"SELECT {GATE} FROM users WHERE id IN (SELECT s.user_id FROM device_sessions s WHERE s.id IN "
     f"(SELECT session_id FROM refresh_tokens WHERE token_hash {LIST.format(p='$1')})) ORDER BY id FOR SHARE",
     f"SELECT {GATE} FROM users WHERE id IN (SELECT s.user_id FROM device_sessions s WHERE s.id IN "
     f"(SELECT session_id FROM refresh_tokens WHERE token_hash {SQLITE_LIST.format(p='$1')}))",
     ['["h"]']),
    ("refresh: lock the families", True,
     f"SELECT * FROM device_sessions WHERE id IN (SELECT session_id FROM refresh_tokens WHERE token_hash "
     f"{LIST.format(p='$1')}) ORDER BY id FOR UPDATE",
     f"UPDATE device_sessions SET revoked_at = revoked_at WHERE id IN (SELECT session_id FROM refresh_tokens "
     f"WHERE token_hash {SQLITE_LIST.format(p='$1')}) RETURNING *",
     ['["h"]']),
    ("refresh: read the tokens", True,
     f"SELECT * FROM refresh_tokens WHERE token_hash {LIST.format(p='$1')}",
     f"SELECT * FROM refresh_tokens WHERE token_hash {SQLITE_LIST.format(p='$1')}",
     ['["h"]']),
    ("refresh: a used token's live successor", True,
     f"SELECT * FROM refresh_tokens WHERE session_id {LIST.format(p='$1')} AND parent_id {LIST.format(p='$2')} "
     "AND used_at IS NULL AND superseded_at IS NULL",
     f"SELECT * FROM refresh_tokens WHERE session_id {SQLITE_LIST.format(p='$1')} AND parent_id "
     f"{SQLITE_LIST.format(p='$2')} AND used_at IS NULL AND superseded_at IS NULL",
     ['["s"]', '["t"]']),
    ("refresh: retire the token (SQLite: one of the writes)", True,
     None,
     "UPDATE refresh_tokens SET used_at = $1 WHERE id = $2",
     ["2026-01-01T00:00:00Z", "t"]),
    ("refresh: slide the session (SQLite: one of the writes)", True,
     None,
     "UPDATE device_sessions SET last_seen = $1, idle_expires_at = $1 WHERE id = $2",
     ["2026-01-01T00:00:00Z", "s"]),
    ("login: the user by name", False,
     'SELECT * FROM users WHERE username = $1 LIMIT 1',
     'SELECT * FROM users WHERE username = $1 LIMIT 1',
     ["ivy"]),
    ("devices: a user's live sessions", False,
     "SELECT * FROM device_sessions WHERE user_id = $1 AND revoked_at IS NULL",
     "SELECT * FROM device_sessions WHERE user_id = $1 AND revoked_at IS NULL",
     ["u"]),
    ("audit: a user's trail, newest first", False,
     "SELECT * FROM audit_events WHERE user_id = $1 AND id < $2 ORDER BY id DESC LIMIT 50",
     "SELECT * FROM audit_events WHERE user_id = $1 AND id < $2 ORDER BY id DESC LIMIT 50",
     ["u", "9223372036854775807"]),
    ("revocations: the syncer's poll", False,
     "SELECT * FROM revocation_events WHERE id > $1 ORDER BY id LIMIT 500",
     "SELECT * FROM revocation_events WHERE id > $1 ORDER BY id LIMIT 500",
     ["0"]),
    ("revocations: the feed's backlog in force", False,
     "SELECT * FROM revocation_events WHERE at >= $1 ORDER BY id LIMIT 500",
     "SELECT * FROM revocation_events WHERE at >= $1 ORDER BY id LIMIT 500",
     ["2026-01-01T00:00:00Z"]),
    ("retention: expired tokens", False,
     "SELECT id FROM refresh_tokens WHERE expires_at < $1 ORDER BY expires_at LIMIT 1000 FOR UPDATE SKIP LOCKED",
     "SELECT id FROM refresh_tokens WHERE expires_at < $1 ORDER BY expires_at LIMIT 1000",
     ["2026-01-01T00:00:00Z"]),
    ("retention: ended sessions", False,
     "SELECT id FROM device_sessions WHERE (revoked_at < $1 OR idle_expires_at < $1 OR absolute_expires_at < $1) "
     "LIMIT 1000 FOR UPDATE SKIP LOCKED",
     "SELECT id FROM device_sessions WHERE (revoked_at < $1 OR idle_expires_at < $1 OR absolute_expires_at < $1) "
     "LIMIT 1000",
     ["2026-01-01T00:00:00Z"]),
    ("retention: a pruned session's tokens", False,
     f"DELETE FROM refresh_tokens WHERE session_id {LIST.format(p='$1')}",
     f"DELETE FROM refresh_tokens WHERE session_id {SQLITE_LIST.format(p='$1')}",
     ['["s"]']),
    ("retention: old audit rows", False,
     "SELECT id FROM audit_events WHERE id < (SELECT MAX(id) FROM audit_events) ORDER BY id LIMIT 1000 "
     "FOR UPDATE SKIP LOCKED",
     "SELECT id FROM audit_events WHERE id < (SELECT MAX(id) FROM audit_events) ORDER BY id LIMIT 1000",
     []),
    ("retention: old revocation events", False,
     "SELECT id FROM revocation_events WHERE at < $1 AND id < (SELECT MAX(id) FROM revocation_events) "
     "ORDER BY at LIMIT 1000 FOR UPDATE SKIP LOCKED",
     "SELECT id FROM revocation_events WHERE at < $1 AND id < (SELECT MAX(id) FROM revocation_events) "
     "ORDER BY at LIMIT 1000",
     ["2026-01-01T00:00:00Z"]),
    ("retention: the oldest token", False,
     "SELECT issued_at FROM refresh_tokens ORDER BY expires_at LIMIT 1",
     "SELECT issued_at FROM refresh_tokens ORDER BY expires_at LIMIT 1",
     []),
    ("retention: the oldest session", False,
     "SELECT first_seen FROM device_sessions ORDER BY absolute_expires_at LIMIT 1",
     "SELECT first_seen FROM device_sessions ORDER BY absolute_expires_at LIMIT 1",
     []),
]

ROTATION = "SET enable_seqscan = off; SET enable_hashjoin = off; SET enable_mergejoin = off;"
DEFAULTS = "RESET enable_seqscan; RESET enable_hashjoin; RESET enable_mergejoin;"
BIG = ("refresh_tokens", "device_sessions", "audit_events", "revocation_events")


def flag(line):
    tables = "|".join(BIG)
    scan = re.search(r"Seq Scan on (%s)\b|SCAN (%s)$" % (tables, tables), line.strip())
    return line + ("   <-- SCAN" if scan else "")


def postgres(url):
    out = []
    for name, rotation, pg, _, params in HOT:
        if pg is None:
            continue
        args = ", ".join("'" + p.replace("'", "''") + "'" for p in params)
        script = (
            "SET plan_cache_mode = force_generic_plan;\n"
            + (ROTATION if rotation else DEFAULTS) + "\n"
            + "BEGIN;\n"
            + f"PREPARE q AS {pg};\n"
            + f"EXPLAIN (COSTS OFF) EXECUTE q{'(' + args + ')' if params else ''};\n"
            + "ROLLBACK;\n"
        )
        res = subprocess.run(["psql", "-X", "-q", "-A", "-t", url], input=script, capture_output=True, text=True)
        plan = res.stdout.strip() or res.stderr.strip()
        out.append((name, plan))
    return out


def sqlite(path):
    db = sqlite3.connect(path)
    out = []
    for name, _, _, lite, params in HOT:
        if lite is None:
            continue
        rows = db.execute("EXPLAIN QUERY PLAN " + lite, {str(i + 1): p for i, p in enumerate(params)}).fetchall()
        out.append((name, "\n".join("  " * (0 if r[1] == 0 else 1) + r[3] for r in rows)))
    return out


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    url = sys.argv[1]
    plans = postgres(url) if url.startswith("postgres") else sqlite(url.split("://", 1)[1].split("?")[0])
    for name, plan in plans:
        print(f"== {name}")
        for line in plan.splitlines():
            print("   " + flag(line))


if __name__ == "__main__":
    main()
