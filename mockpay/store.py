"""SQLite state. Every SQL statement of mockpay lives in this module.

One connection per thread and process (gunicorn forks workers after the app
may have been created), WAL journal, and `BEGIN IMMEDIATE` for every write
transaction so that concurrent workers serialise on the write lock instead of
failing with SQLITE_BUSY half-way through.

Writers first queue on a lock of their own (a thread lock, then `flock` on a file
beside the database), so that they wait in line and are woken the moment the
writer before them is done. SQLite's own busy handler, which only polls, with
sleeps growing to 100 ms, is the fallback for writers outside mockpay (an
`sqlite3` shell, say).
"""
from __future__ import annotations

import fcntl
import json
import os
import secrets
import sqlite3
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS clients (
    client_id            TEXT PRIMARY KEY,
    public_key           TEXT,          -- base64 SubjectPublicKeyInfo; NULL: KEY_NOT_FOUND
    merchant_private_key TEXT,          -- only for test keys mockpay generated itself
    created_at           TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS clock (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    anchor_real REAL NOT NULL,          -- wall-clock epoch seconds at the anchor
    anchor_mock REAL NOT NULL,          -- mock epoch seconds at the anchor
    scale       REAL NOT NULL
);

CREATE TABLE IF NOT EXISTS vaults (
    id                      INTEGER PRIMARY KEY,
    client_id               TEXT NOT NULL,
    vaulting_request_id     TEXT NOT NULL,
    request_digest          TEXT NOT NULL,   -- keyed digest of the canonical request
    source                  TEXT NOT NULL,   -- api | session
    status                  TEXT NOT NULL,   -- SUCCESS | FAIL | PROCESSING
    result_status           TEXT NOT NULL,
    result_code             TEXT NOT NULL,
    result_message          TEXT NOT NULL,
    vaulting_result_code    TEXT,
    vaulting_result_message TEXT,
    response_json           TEXT NOT NULL,   -- the answer replayed to an identical retry
    payment_method_detail   TEXT,            -- JSON, as inquireVaulting reports it
    card_enc                TEXT,            -- AES-GCM sealed card number
    card_fingerprint        TEXT,
    card_masked             TEXT,            -- first six and last four digits
    brand                   TEXT,
    card_token              TEXT,
    notification_url        TEXT,
    redirect_url            TEXT,
    metadata                TEXT,
    urls                    TEXT,            -- JSON {normalUrl, schemeUrl, applinkUrl} while PROCESSING
    challenge_id            TEXT UNIQUE,
    challenge               TEXT,            -- JSON: what the challenge resolves to
    challenge_expires_at    REAL,            -- mock epoch seconds
    created_at              REAL NOT NULL,   -- mock epoch seconds
    updated_at              REAL NOT NULL,
    UNIQUE (client_id, vaulting_request_id)
);
CREATE INDEX IF NOT EXISTS vaults_challenge_expiry ON vaults (status, challenge_expires_at);

-- sessions & card tokens (createVaultingSession, the hosted card-binding page, cacheCard) --
CREATE TABLE IF NOT EXISTS vaulting_sessions (
    id                  INTEGER PRIMARY KEY,
    session_id          TEXT NOT NULL UNIQUE,   -- vaultingSessionId, also in the page URL
    client_id           TEXT NOT NULL,
    vaulting_request_id TEXT NOT NULL,
    request_digest      TEXT NOT NULL,          -- keyed digest of the canonical request
    request_json        TEXT NOT NULL,          -- the validated request (holds no card data)
    response_json       TEXT NOT NULL,          -- the answer replayed to an identical retry
    status              TEXT NOT NULL,          -- OPEN | USED
    expires_at          REAL NOT NULL,          -- mock epoch seconds
    created_at          REAL NOT NULL,
    used_at             REAL,
    UNIQUE (client_id, vaulting_request_id)
);

CREATE TABLE IF NOT EXISTS card_tokens (
    id          INTEGER PRIMARY KEY,
    token       TEXT NOT NULL UNIQUE,           -- cacheCard's cardToken
    client_id   TEXT NOT NULL,
    card_enc    TEXT NOT NULL,                  -- AES-GCM sealed JSON: number, expiry, name, address (never a CVV)
    card_masked TEXT NOT NULL,                  -- first six and last four digits
    expires_at  REAL NOT NULL,                  -- mock epoch seconds
    created_at  REAL NOT NULL,
    used_at     REAL                            -- set once, by the vaultPaymentMethod that redeems it
);
-- notify (issue 4): the durable outbox of notifyVaulting callbacks --------------
CREATE TABLE IF NOT EXISTS notifications (
    id                  INTEGER PRIMARY KEY,
    kind                TEXT NOT NULL,          -- notifyVaulting
    client_id           TEXT NOT NULL,
    vaulting_request_id TEXT NOT NULL,
    vault_id            INTEGER,                -- vaults.id (no foreign key: vaults may be deleted)
    url                 TEXT NOT NULL,
    body                TEXT NOT NULL,          -- the exact JSON text sent (and signed) on every attempt
    status              TEXT NOT NULL,          -- pending | delivered | given_up
    schedule            TEXT NOT NULL,          -- JSON list of intervals (s), fixed when enqueued
    max_attempts        INTEGER NOT NULL,
    created_at          REAL NOT NULL,          -- mock epoch seconds
    updated_at          REAL NOT NULL,
    delivered_at        REAL
);
CREATE INDEX IF NOT EXISTS notifications_vaulting ON notifications (vaulting_request_id);

CREATE TABLE IF NOT EXISTS notification_attempts (
    id               INTEGER PRIMARY KEY,
    notification_id  INTEGER NOT NULL REFERENCES notifications (id) ON DELETE CASCADE,
    number           INTEGER NOT NULL,          -- 1-based order among all attempts of the notification
    schedule_index   INTEGER,                   -- 1-based place in the retry schedule; NULL: a manual resend
    state            TEXT NOT NULL,             -- scheduled | sending | acked | failed | cancelled
    due_at           REAL NOT NULL,             -- mock epoch seconds
    claimed_by       TEXT,                      -- the claim: "<pid>:<host>:<dispatcher>/<nonce>"
    lease_until      REAL,                      -- wall-clock epoch; after it a dead claim is retaken
    claims           INTEGER NOT NULL DEFAULT 0,
    sent_at          REAL,                      -- mock epoch seconds
    request_time     TEXT,                      -- the request-time header sent
    http_status      INTEGER,
    error            TEXT,                      -- network error, or why the answer is not an ack
    latency_ms       REAL,
    response_excerpt TEXT                       -- the first 1 KB of the answer
);
CREATE INDEX IF NOT EXISTS notification_attempts_due ON notification_attempts (state, due_at);
CREATE INDEX IF NOT EXISTS notification_attempts_notification ON notification_attempts (notification_id);

-- scenarios (issue 3) ------------------------------------------------------
CREATE TABLE IF NOT EXISTS scenario_sets (      -- rules loaded at run time for one client id
    client_id  TEXT PRIMARY KEY,
    source     TEXT NOT NULL,                   -- the YAML (or JSON) text as it was PUT
    version    TEXT NOT NULL,                   -- changes on every PUT; workers re-parse on change
    updated_at REAL NOT NULL                    -- mock epoch seconds
);
CREATE TABLE IF NOT EXISTS scenario_state (     -- calls so far of each sequence rule, per client id
    client_id TEXT NOT NULL,
    rule_key  TEXT NOT NULL,
    calls     INTEGER NOT NULL,
    PRIMARY KEY (client_id, rule_key)
);
-- == request journal (issue 6, dx-ops) ==================================
-- One row per API call; bodies are stored already redacted (journal.py):
-- card numbers masked to first six and last four digits, CVV removed.
CREATE TABLE IF NOT EXISTS journal (
    id                  INTEGER PRIMARY KEY,
    at                  REAL NOT NULL,      -- mock epoch seconds
    client_id           TEXT,               -- the client-id header as received
    method              TEXT NOT NULL,
    path                TEXT NOT NULL,
    api                 TEXT,               -- vaultPaymentMethod, inquireVaulting, ...
    vaulting_request_id TEXT,
    http_status         INTEGER NOT NULL,
    result_status       TEXT,
    result_code         TEXT,
    fault               TEXT,               -- scenario fault (http_500, drop, timeout, ...)
    latency_ms          REAL NOT NULL,
    request_json        TEXT,
    response_json       TEXT
);
CREATE INDEX IF NOT EXISTS journal_client ON journal (client_id, id);
CREATE INDEX IF NOT EXISTS journal_vaulting_request ON journal (vaulting_request_id, id);
"""

# Tables POST /_mockpay/reset leaves alone (configuration, not recorded state).
# Every other table is emptied by a full reset; a per-client reset deletes the
# rows of every table with a client_id column. A table whose rows belong to a
# client but has no client_id column should reference its parent with
# ON DELETE CASCADE.
RESET_KEEP = {"meta", "clients", "clock"}


# Per process and per database file: the write gate (a thread lock and the descriptor
# of the lock file) and the clock marker's descriptor, shared by every Store on that
# file, opened once (however many threads ask at the same moment), never per Store.
# A forked child closes what it inherited and opens its own: an flock belongs to the
# open file, which parent and child would otherwise share.
_FILES: dict[str, tuple[threading.Lock | None, int]] = {}
_FILES_SETUP = threading.Lock()


def _process_file(path: str, with_lock: bool) -> tuple[threading.Lock | None, int]:
    entry = _FILES.get(path)
    if entry is None:
        with _FILES_SETUP:
            entry = _FILES.get(path)
            if entry is None:
                fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
                entry = _FILES[path] = (threading.Lock() if with_lock else None, fd)
    return entry


def _reopen_files_in_child() -> None:
    global _FILES_SETUP
    _FILES_SETUP = threading.Lock()  # a thread of the parent may have held it at fork time
    for _, fd in _FILES.values():
        try:
            os.close(fd)
        except OSError:
            pass
    _FILES.clear()


os.register_at_fork(after_in_child=_reopen_files_in_child)

# How many open Stores of this process use each database file. The last
# one's close() closes that file's lock and clock-marker descriptors: the pytest fixture
# starts a server on a fresh data directory for every test, and kept two descriptors
# open per test until the process ran out of them (EMFILE after ~500 tests at the
# usual limit of 1024). A Store used after its close() opens them again.
_USERS: dict[str, int] = {}


def _hold_files(path: str) -> None:
    with _FILES_SETUP:
        _USERS[path] = _USERS.get(path, 0) + 1


def _release_files(path: str) -> None:
    with _FILES_SETUP:
        users = _USERS.get(path, 0) - 1
        if users > 0:
            _USERS[path] = users
            return
        _USERS.pop(path, None)
        for name in (path + ".lock", path + ".clock"):
            entry = _FILES.pop(name, None)
            if entry is not None:
                try:
                    os.close(entry[1])
                except OSError:
                    pass


def _now_real() -> float:
    return time.time()


class Store:
    def __init__(self, path: str | Path):
        self.path = str(path)
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._conn().executescript(SCHEMA)
        _hold_files(self.path)  # released by the last close()
        self._holds_files = True

    # -- connections and transactions --------------------------------------
    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None or self._local.pid != os.getpid():
            conn = sqlite3.connect(self.path, isolation_level=None, timeout=30, check_same_thread=False)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=30000")
            conn.execute("PRAGMA foreign_keys=ON")
            self._local.conn, self._local.pid = conn, os.getpid()
        return conn

    @contextmanager
    def _write_turn(self) -> Iterator[None]:
        """Wait in line for the right to write: the threads of this process on a lock,
        then the processes sharing the database on an flock (released by the kernel
        if the holder dies, SIGKILL included)."""
        thread_lock, fd = _process_file(self.path + ".lock", with_lock=True)
        with thread_lock:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """A write transaction: BEGIN IMMEDIATE ... COMMIT (ROLLBACK on error)."""
        db = self._conn()
        with self._write_turn():
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            else:
                db.execute("COMMIT")

    def _write(self, sql: str, params: tuple = ()) -> sqlite3.Cursor:
        """One write statement on its own (atomic in autocommit mode), in line with the others."""
        with self._write_turn():
            return self._conn().execute(sql, params)

    def _one(self, sql: str, params: tuple = ()) -> sqlite3.Row | None:
        return self._conn().execute(sql, params).fetchone()

    def _all(self, sql: str, params: tuple = ()) -> list[sqlite3.Row]:
        return self._conn().execute(sql, params).fetchall()

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
        if self._holds_files:  # once per Store
            self._holds_files = False
            _release_files(self.path)

    # -- meta -----------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        row = self._one("SELECT value FROM meta WHERE key = ?", (key,))
        return row["value"] if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self.tx() as db:
            db.execute("INSERT INTO meta (key, value) VALUES (?, ?) "
                       "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (key, value))

    # -- clients --------------------------------------------------------------
    def add_client(self, client_id: str, public_key: str | None, merchant_private_key: str | None,
                   created_at: str) -> None:
        with self.tx() as db:
            db.execute(
                "INSERT INTO clients (client_id, public_key, merchant_private_key, created_at) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (client_id) DO UPDATE SET "
                "public_key = excluded.public_key, merchant_private_key = excluded.merchant_private_key",
                (client_id, public_key, merchant_private_key, created_at))

    def get_client(self, client_id: str) -> sqlite3.Row | None:
        return self._one("SELECT * FROM clients WHERE client_id = ?", (client_id,))

    def list_clients(self) -> list[sqlite3.Row]:
        return self._all("SELECT * FROM clients ORDER BY client_id")

    def delete_client(self, client_id: str) -> bool:
        with self.tx() as db:
            return db.execute("DELETE FROM clients WHERE client_id = ?", (client_id,)).rowcount > 0

    # -- clock ----------------------------------------------------------------
    def clock_state(self) -> tuple[float, float, float]:
        row = self._one("SELECT anchor_real, anchor_mock, scale FROM clock WHERE id = 1")
        if row is None:
            with self.tx() as db:
                now = _now_real()
                db.execute("INSERT OR IGNORE INTO clock (id, anchor_real, anchor_mock, scale) "
                           "VALUES (1, ?, ?, 1.0)", (now, now))
            row = self._one("SELECT anchor_real, anchor_mock, scale FROM clock WHERE id = 1")
        return row["anchor_real"], row["anchor_mock"], row["scale"]

    def clock_reanchor(self, advance_by: float = 0.0, scale: float | None = None,
                       latest: float | None = None) -> float:
        """Atomically re-anchor the mock clock at its current time plus `advance_by`,
        optionally with a new scale. Returns the new mock time. ValueError (and nothing
        changes) if that would put the clock past `latest`."""
        self.clock_state()
        with self.tx() as db:
            row = db.execute("SELECT anchor_real, anchor_mock, scale FROM clock WHERE id = 1").fetchone()
            real = _now_real()
            mock = row["anchor_mock"] + (real - row["anchor_real"]) * row["scale"] + advance_by
            if latest is not None and not mock <= latest:
                raise ValueError(f"the mock clock cannot be advanced by {advance_by:g} s: "
                                 f"it would pass epoch {latest:.0f}")
            db.execute("UPDATE clock SET anchor_real = ?, anchor_mock = ?, scale = ? WHERE id = 1",
                       (real, mock, row["scale"] if scale is None else scale))
        self._touch_clock_marker()
        return mock

    # The clock's anchor changes only here. After each change a marker file beside the
    # database gets a fresh random token, so every process can keep the anchor in memory
    # and read a few bytes instead of querying on every read of the clock. (Not the
    # inode or mtime: file systems reuse inodes and keep coarse timestamps.) The token is
    # written in place, never by replacing the file, so each process keeps the file open
    # and reads it with one pread(); a read that races a write sees a mix of two tokens,
    # which differs from the one it knew, and so re-reads the anchor: never a stale clock.
    @property
    def clock_marker(self) -> str:
        return self.path + ".clock"

    def _clock_marker_fd(self) -> int:
        return _process_file(self.clock_marker, with_lock=False)[1]

    def clock_version(self) -> bytes:
        return os.pread(self._clock_marker_fd(), 64, 0)

    def _touch_clock_marker(self) -> None:
        os.pwrite(self._clock_marker_fd(), secrets.token_hex(16).encode(), 0)

    # -- vaults ---------------------------------------------------------------
    def get_vault(self, client_id: str, vaulting_request_id: str) -> sqlite3.Row | None:
        return self._one("SELECT * FROM vaults WHERE client_id = ? AND vaulting_request_id = ?",
                         (client_id, vaulting_request_id))

    def get_vault_by_challenge(self, challenge_id: str) -> sqlite3.Row | None:
        return self._one("SELECT * FROM vaults WHERE challenge_id = ?", (challenge_id,))

    def find_vaults(self, vaulting_request_id: str) -> list[sqlite3.Row]:
        return self._all("SELECT * FROM vaults WHERE vaulting_request_id = ? ORDER BY id", (vaulting_request_id,))

    def list_vaults(self, client_id: str | None = None, status: str | None = None,
                    limit: int = 100, offset: int = 0) -> list[sqlite3.Row]:
        sql, params = "SELECT * FROM vaults WHERE 1=1", []
        if client_id:
            sql += " AND client_id = ?"
            params.append(client_id)
        if status:
            sql += " AND status = ?"
            params.append(status)
        sql += " ORDER BY id DESC LIMIT ? OFFSET ?"
        params += [limit, offset]
        return self._all(sql, tuple(params))

    def count_vaults(self) -> int:
        return self._one("SELECT COUNT(*) AS n FROM vaults")["n"]

    def insert_vault(self, db: sqlite3.Connection, row: dict[str, Any]) -> int:
        """Insert within a transaction opened by the caller (see Store.tx)."""
        columns = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        cur = db.execute(f"INSERT INTO vaults ({columns}) VALUES ({marks})", tuple(row.values()))
        return cur.lastrowid

    def get_vault_in(self, db: sqlite3.Connection, client_id: str, vaulting_request_id: str):
        return db.execute("SELECT * FROM vaults WHERE client_id = ? AND vaulting_request_id = ?",
                          (client_id, vaulting_request_id)).fetchone()

    def update_vault(self, db: sqlite3.Connection, vault_id: int, changes: dict[str, Any]) -> None:
        assignments = ", ".join(f"{k} = ?" for k in changes)
        db.execute(f"UPDATE vaults SET {assignments} WHERE id = ?", (*changes.values(), vault_id))

    def expired_challenges(self, now: float, limit: int = 100) -> list[sqlite3.Row]:
        return self._all("SELECT * FROM vaults WHERE status = 'PROCESSING' AND challenge_expires_at IS NOT NULL "
                         "AND challenge_expires_at <= ? ORDER BY challenge_expires_at LIMIT ?", (now, limit))

    def delete_vaults(self, client_id: str | None = None) -> int:
        with self.tx() as db:
            if client_id is None:
                return db.execute("DELETE FROM vaults").rowcount
            return db.execute("DELETE FROM vaults WHERE client_id = ?", (client_id,)).rowcount

    # -- sessions & card tokens -------------------------------------------------
    def get_session(self, session_id: str) -> sqlite3.Row | None:
        return self._one("SELECT * FROM vaulting_sessions WHERE session_id = ?", (session_id,))

    def get_session_by_request(self, client_id: str, vaulting_request_id: str) -> sqlite3.Row | None:
        return self._one("SELECT * FROM vaulting_sessions WHERE client_id = ? AND vaulting_request_id = ?",
                         (client_id, vaulting_request_id))

    def get_session_by_request_in(self, db: sqlite3.Connection, client_id: str, vaulting_request_id: str):
        return db.execute("SELECT * FROM vaulting_sessions WHERE client_id = ? AND vaulting_request_id = ?",
                          (client_id, vaulting_request_id)).fetchone()

    def insert_session(self, db: sqlite3.Connection, row: dict[str, Any]) -> int:
        """Insert within a transaction opened by the caller (see Store.tx)."""
        columns = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        return db.execute(f"INSERT INTO vaulting_sessions ({columns}) VALUES ({marks})",
                          tuple(row.values())).lastrowid

    def mark_session_used(self, session_id: str, now: float) -> bool:
        """OPEN -> USED; False if it was not open."""
        with self.tx() as db:
            return db.execute("UPDATE vaulting_sessions SET status = 'USED', used_at = ? "
                              "WHERE session_id = ? AND status = 'OPEN'", (now, session_id)).rowcount > 0

    def count_sessions(self) -> int:
        return self._one("SELECT COUNT(*) AS n FROM vaulting_sessions")["n"]

    def insert_card_token(self, row: dict[str, Any]) -> int:
        columns = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        with self.tx() as db:
            return db.execute(f"INSERT INTO card_tokens ({columns}) VALUES ({marks})",
                              tuple(row.values())).lastrowid

    def get_card_token(self, token: str) -> sqlite3.Row | None:
        return self._one("SELECT * FROM card_tokens WHERE token = ?", (token,))

    def usable_card_token(self, client_id: str, token: str, now: float) -> sqlite3.Row | None:
        """An unused, unexpired token of this client (nothing is changed); None otherwise."""
        return self._one("SELECT * FROM card_tokens WHERE token = ? AND client_id = ? "
                         "AND used_at IS NULL AND expires_at > ?", (token, client_id, now))

    def use_card_token_in(self, db: sqlite3.Connection, client_id: str, token: str, now: float) -> bool:
        """Within the caller's transaction (the one that stores the vault): mark the token
        used if it still is usable. False if it is not (another request used it first)."""
        return db.execute("UPDATE card_tokens SET used_at = ? WHERE token = ? AND client_id = ? "
                          "AND used_at IS NULL AND expires_at > ?", (now, token, client_id, now)).rowcount == 1

    def count_card_tokens(self) -> int:
        return self._one("SELECT COUNT(*) AS n FROM card_tokens")["n"]
    # -- notify (issue 4): notification outbox -------------------------------------
    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """A read transaction: the SELECTs inside it see one consistent state (WAL snapshot)."""
        db = self._conn()
        if db.in_transaction:
            yield
            return
        db.execute("BEGIN")
        try:
            yield
        finally:
            db.execute("COMMIT")

    def get_vault_by_id_in(self, db: sqlite3.Connection, vault_id: int) -> sqlite3.Row | None:
        return db.execute("SELECT * FROM vaults WHERE id = ?", (vault_id,)).fetchone()

    def insert_notification(self, db: sqlite3.Connection, row: dict[str, Any]) -> int:
        """Insert within the caller's transaction (the one that made the vault final)."""
        columns = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        return db.execute(f"INSERT INTO notifications ({columns}) VALUES ({marks})", tuple(row.values())).lastrowid

    def insert_attempt(self, db: sqlite3.Connection, notification_id: int, due_at: float,
                       schedule_index: int | None) -> int:
        """Schedule an attempt (schedule_index None: a manual resend), numbered after the others."""
        return db.execute(
            "INSERT INTO notification_attempts (notification_id, number, schedule_index, state, due_at) "
            "SELECT ?, COALESCE(MAX(number), 0) + 1, ?, 'scheduled', ? FROM notification_attempts "
            "WHERE notification_id = ?", (notification_id, schedule_index, due_at, notification_id)).lastrowid

    def any_claimable(self, now_mock: float, now_real: float) -> bool:
        """A cheap read (no write lock) before trying to claim."""
        return self._one(
            "SELECT 1 FROM notification_attempts WHERE (state = 'scheduled' AND due_at <= ?) "
            "OR (state = 'sending' AND lease_until < ?) LIMIT 1", (now_mock, now_real)) is not None

    def claim_attempts(self, owner: str, now_mock: float, now_real: float, lease_until: float,
                       limit: int) -> list[sqlite3.Row]:
        """Atomically take up to `limit` due attempts (or ones whose claim lease ran out:
        their dispatcher died). BEGIN IMMEDIATE holds the write lock across the select and
        the update, so across every process an attempt is taken by one dispatcher only.
        Returns the attempts joined with their notification."""
        with self.tx() as db:
            ids = [r["id"] for r in db.execute(
                "SELECT id FROM notification_attempts WHERE (state = 'scheduled' AND due_at <= ?) "
                "OR (state = 'sending' AND lease_until < ?) ORDER BY due_at, id LIMIT ?",
                (now_mock, now_real, limit))]
            if not ids:
                return []
            marks = ", ".join("?" for _ in ids)
            db.execute(f"UPDATE notification_attempts SET state = 'sending', claimed_by = ?, lease_until = ?, "
                       f"claims = claims + 1 WHERE id IN ({marks})", (owner, lease_until, *ids))
            return db.execute(
                "SELECT a.*, n.kind, n.client_id, n.vaulting_request_id, n.url, n.body, n.schedule, "
                "n.max_attempts, n.status AS notification_status FROM notification_attempts a "
                f"JOIN notifications n ON n.id = a.notification_id WHERE a.id IN ({marks}) "
                "ORDER BY a.due_at, a.id", tuple(ids)).fetchall()

    def complete_attempt(self, db: sqlite3.Connection, attempt_id: int, owner: str, fields: dict[str, Any]) -> bool:
        """Record the outcome of a claimed attempt; False when the claim `owner` (the attempt's
        claimed_by when it was claimed) was lost: the lease ran out and another dispatcher
        retook it, or the attempt was deleted (a reset) and its id perhaps reused."""
        assignments = ", ".join(f"{k} = ?" for k in fields)
        cur = db.execute(f"UPDATE notification_attempts SET {assignments}, lease_until = NULL "
                         "WHERE id = ? AND claimed_by = ? AND state = 'sending'",
                         (*fields.values(), attempt_id, owner))
        return cur.rowcount == 1

    def open_attempts_in(self, db: sqlite3.Connection, notification_id: int) -> int:
        return db.execute("SELECT COUNT(*) AS n FROM notification_attempts WHERE notification_id = ? "
                          "AND state IN ('scheduled', 'sending')", (notification_id,)).fetchone()["n"]

    def cancel_scheduled_attempts(self, db: sqlite3.Connection, notification_id: int) -> int:
        return db.execute("UPDATE notification_attempts SET state = 'cancelled' "
                          "WHERE notification_id = ? AND state = 'scheduled'", (notification_id,)).rowcount

    def get_notification_in(self, db: sqlite3.Connection, notification_id: int) -> sqlite3.Row | None:
        return db.execute("SELECT * FROM notifications WHERE id = ?", (notification_id,)).fetchone()

    def update_notification(self, db: sqlite3.Connection, notification_id: int, changes: dict[str, Any]) -> None:
        assignments = ", ".join(f"{k} = ?" for k in changes)
        db.execute(f"UPDATE notifications SET {assignments} WHERE id = ?", (*changes.values(), notification_id))

    def get_notification(self, notification_id: int) -> sqlite3.Row | None:
        return self._one("SELECT * FROM notifications WHERE id = ?", (notification_id,))

    def list_notifications(self, vaulting_request_id: str | None = None, client_id: str | None = None,
                           status: str | None = None, limit: int = 100, offset: int = 0) -> list[sqlite3.Row]:
        sql, params = "SELECT * FROM notifications WHERE 1=1", []
        for column, value in (("vaulting_request_id", vaulting_request_id), ("client_id", client_id),
                              ("status", status)):
            if value:
                sql += f" AND {column} = ?"
                params.append(value)
        sql += " ORDER BY id DESC LIMIT ? OFFSET ?"
        return self._all(sql, (*params, limit, offset))

    def count_due_attempts(self, now_mock: float) -> int:
        """Attempts due by `now_mock` and not finished (waiting, or being sent)."""
        return self._one("SELECT COUNT(*) AS n FROM notification_attempts WHERE state IN ('scheduled', 'sending') "
                         "AND due_at <= ?", (now_mock,))["n"]

    def count_notifications(self, status: str | None = None) -> int:
        if status:
            return self._one("SELECT COUNT(*) AS n FROM notifications WHERE status = ?", (status,))["n"]
        return self._one("SELECT COUNT(*) AS n FROM notifications")["n"]

    def attempts_for(self, notification_ids: list[int]) -> list[sqlite3.Row]:
        if not notification_ids:
            return []
        marks = ", ".join("?" for _ in notification_ids)
        return self._all(f"SELECT * FROM notification_attempts WHERE notification_id IN ({marks}) "
                         "ORDER BY notification_id, number", tuple(notification_ids))

    # -- scenarios (issue 3) ----------------------------------------------------
    def put_scenario_set(self, client_id: str, source: str, version: str, now: float) -> None:
        """Store a client's run-time rule set and restart its sequences, atomically."""
        with self.tx() as db:
            db.execute("INSERT INTO scenario_sets (client_id, source, version, updated_at) VALUES (?, ?, ?, ?) "
                       "ON CONFLICT (client_id) DO UPDATE SET source = excluded.source, "
                       "version = excluded.version, updated_at = excluded.updated_at",
                       (client_id, source, version, now))
            db.execute("DELETE FROM scenario_state WHERE client_id = ?", (client_id,))

    def scenario_set_version(self, client_id: str) -> str | None:
        row = self._one("SELECT version FROM scenario_sets WHERE client_id = ?", (client_id,))
        return row["version"] if row else None

    def get_scenario_set(self, client_id: str) -> sqlite3.Row | None:
        return self._one("SELECT * FROM scenario_sets WHERE client_id = ?", (client_id,))

    def list_scenario_sets(self) -> list[sqlite3.Row]:
        return self._all("SELECT client_id, version, updated_at FROM scenario_sets ORDER BY client_id")

    def delete_scenario_set(self, client_id: str) -> bool:
        with self.tx() as db:
            db.execute("DELETE FROM scenario_state WHERE client_id = ?", (client_id,))
            return db.execute("DELETE FROM scenario_sets WHERE client_id = ?", (client_id,)).rowcount > 0

    def bump_scenario_counter(self, client_id: str, rule_key: str) -> int:
        """Count one more call of a sequence rule; return the count (1 for the first call)."""
        with self.tx() as db:
            return self.bump_scenario_counter_in(db, client_id, rule_key)

    def bump_scenario_counter_in(self, db, client_id: str, rule_key: str) -> int:
        """bump_scenario_counter within the caller's transaction (the one that stores what
        the call did, so that a call that turns out to be a replay counts for nothing)."""
        return db.execute("INSERT INTO scenario_state (client_id, rule_key, calls) VALUES (?, ?, 1) "
                          "ON CONFLICT (client_id, rule_key) DO UPDATE SET calls = calls + 1 "
                          "RETURNING calls", (client_id, rule_key)).fetchone()["calls"]

    def reset_scenario_state(self, client_id: str | None = None) -> int:
        with self.tx() as db:
            if client_id is None:
                return db.execute("DELETE FROM scenario_state").rowcount
            return db.execute("DELETE FROM scenario_state WHERE client_id = ?", (client_id,)).rowcount

    # -- proof (issue 7): claims of dispatchers that died -------------------------
    def sending_owners(self) -> list[str]:
        """The dispatchers holding claims (attempts being sent)."""
        return [r["claimed_by"] for r in self._all(
            "SELECT DISTINCT claimed_by FROM notification_attempts WHERE state = 'sending' "
            "AND claimed_by IS NOT NULL")]

    def release_claims(self, owner: str) -> int:
        """End the lease of every attempt `owner` is sending: any dispatcher may claim it now."""
        with self.tx() as db:
            return db.execute("UPDATE notification_attempts SET lease_until = 0 WHERE state = 'sending' "
                              "AND claimed_by = ?", (owner,)).rowcount

    def release_claim(self, attempt_id: int, claim: str) -> bool:
        """End the lease of one attempt claimed as `claim` and not sent: any dispatcher may claim it now."""
        with self.tx() as db:
            return db.execute("UPDATE notification_attempts SET lease_until = 0 WHERE id = ? AND claimed_by = ? "
                              "AND state = 'sending'", (attempt_id, claim)).rowcount == 1

    # -- 3DS challenges (issue 3) -------------------------------------------------
    def get_vault_by_challenge_in(self, db: sqlite3.Connection, challenge_id: str) -> sqlite3.Row | None:
        return db.execute("SELECT * FROM vaults WHERE challenge_id = ?", (challenge_id,)).fetchone()
    # (get_vault_by_id_in, also used by the challenge code, is in the notify block above)
    # -- request journal (issue 6, dx-ops) ------------------------------------
    JOURNAL_COLUMNS = ("at", "client_id", "method", "path", "api", "vaulting_request_id", "http_status",
                       "result_status", "result_code", "fault", "latency_ms", "request_json", "response_json")

    def journal_insert(self, row: dict[str, Any]) -> int:
        """One INSERT in autocommit mode (atomic on its own): the cheap write on the request path."""
        cur = self._write(
            "INSERT INTO journal (at, client_id, method, path, api, vaulting_request_id, http_status, "
            "result_status, result_code, fault, latency_ms, request_json, response_json) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            tuple(row.get(c) for c in self.JOURNAL_COLUMNS))
        return cur.lastrowid

    def journal_trim(self, up_to_id: int) -> int:
        """Delete the entries with an id up to `up_to_id` (a range on the primary key)."""
        return self._write("DELETE FROM journal WHERE id <= ?", (up_to_id,)).rowcount

    def journal_list(self, client_id: str | None = None, path: str | None = None,
                     vaulting_request_id: str | None = None, result_code: str | None = None,
                     api: str | None = None, before: int | None = None, limit: int = 100) -> list[sqlite3.Row]:
        """Newest first. `path` is an exact path, or a GLOB pattern when it holds '*'."""
        sql, params = "SELECT * FROM journal WHERE 1=1", []
        for column, value in (("client_id", client_id), ("vaulting_request_id", vaulting_request_id),
                              ("result_code", result_code), ("api", api)):
            if value is not None:
                sql += f" AND {column} = ?"
                params.append(value)
        if path is not None:
            sql += " AND path GLOB ?" if "*" in path else " AND path = ?"
            params.append(path)
        if before is not None:
            sql += " AND id < ?"
            params.append(before)
        sql += " ORDER BY id DESC LIMIT ?"
        params.append(limit)
        return self._all(sql, tuple(params))

    def journal_count(self) -> int:
        return self._one("SELECT COUNT(*) AS n FROM journal")["n"]

    # -- reset (issue 6, dx-ops) ----------------------------------------------
    def state_tables(self) -> list[tuple[str, bool]]:
        """(table, has a client_id column) for every table a reset may touch, children
        (tables holding a foreign key) before the tables they reference."""
        db = self._conn()
        names = [r["name"] for r in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
        names = [n for n in names if n not in RESET_KEEP]
        columns = {n: {r["name"] for r in db.execute(f'PRAGMA table_info("{n}")')} for n in names}
        parents = {n: {r["table"] for r in db.execute(f'PRAGMA foreign_key_list("{n}")')} & set(names)
                   for n in names}
        ordered: list[str] = []
        while len(ordered) < len(names):
            # a table goes once every table referencing it is already placed
            ready = [n for n in names if n not in ordered
                     and all(n not in parents[c] or c in ordered or c == n for c in names)]
            ordered += ready or [n for n in names if n not in ordered]  # a cycle: take the rest as is
        return [(n, "client_id" in columns[n]) for n in ordered]

    def reset_state(self, client_id: str | None = None) -> dict[str, int]:
        """Delete recorded state: everything (client_id None) or one client's rows.
        Returns the number of rows deleted per table, in one transaction."""
        tables = self.state_tables()
        deleted: dict[str, int] = {}
        with self.tx() as db:
            for name, has_client in tables:
                if client_id is None:
                    deleted[name] = db.execute(f'DELETE FROM "{name}"').rowcount
                elif has_client:
                    deleted[name] = db.execute(f'DELETE FROM "{name}" WHERE client_id = ?', (client_id,)).rowcount
        return deleted


def dumps(obj) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def loads(text: str | None):
    return None if text is None else json.loads(text)
