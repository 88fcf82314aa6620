"""notifyVaulting: the durable outbox of result callbacks, and the dispatcher that sends them.

- When a vault becomes final (S or F), `Notifier.on_final` runs inside the very
  transaction that made it final (`Vaulting.final_listeners`) and stores the
  notification with its first attempt. A crash cannot separate the two.
- Each attempt is a row. A `Dispatcher` thread in every gunicorn worker claims due
  attempts atomically (`Store.claim_attempts`, under SQLite's write lock, with a
  lease), sends them from a small thread pool, records the outcome, and on
  failure schedules the next attempt `schedule[k]` seconds (mock time) after the
  one that failed. Nothing here runs on an API request's thread but the insert.
- An acknowledgement is HTTP 200 with JSON `result.resultStatus == "S"` and
  `result.resultCode == "SUCCESS"`. Anything else is a failed attempt.
- The transport (how bytes reach the merchant) is a plain callable
  `transport(url, headers, body, timeout) -> HttpAnswer` that raises on network
  errors; tests may swap `Notifier.transport`.
"""
from __future__ import annotations

import atexit
import http.client
import json
import logging
import os
import socket
import ssl
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable
from urllib.parse import urlsplit

from . import signing
from . import store as store_mod
from .clock import iso
from .codes import result

log = logging.getLogger("mockpay.notify")

KIND = "notifyVaulting"
STATUSES = ("pending", "delivered", "given_up")
EXCERPT_BYTES = 1024
MAX_READ_BYTES = 64 * 1024
# How long (wall-clock seconds, beyond the send timeout) a claim holds before another
# dispatcher may take the attempt over: only matters when a worker died mid-send.
LEASE_MARGIN = 60.0


# -- transport ------------------------------------------------------------------------

@dataclass
class HttpAnswer:
    status: int
    body: bytes


class DeliveryTimeout(Exception):
    pass


# Top-level domains reserved never to resolve (RFC 2606): the request builders'
# notification URLs are on .example, so that nothing real is ever called.
NEVER_RESOLVE = frozenset({"example", "invalid"})


class HttpTransport:
    """The real sender: http.client, one connection per attempt, redirects not followed.
    `timeout` bounds every socket operation and the whole exchange: a receiver that
    answers byte by byte is hung up on when it runs out (each read alone would wait
    `timeout` for the next byte, and the send outlive its claim's lease)."""

    user_agent = "mockpay-notify/1"

    def __call__(self, url: str, headers: dict[str, str], body: bytes, timeout: float) -> HttpAnswer:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url[:200]!r}")
        if parts.hostname.rstrip(".").rpartition(".")[2] in NEVER_RESOLVE:
            # what DNS would answer, without asking it: where no resolver answers (a CI
            # container), each lookup would wait out the resolver's timeout
            raise socket.gaierror(socket.EAI_NONAME, f"{parts.hostname} is under a reserved domain that never "
                                                     f"resolves (RFC 2606)")
        started = time.monotonic()
        if parts.scheme == "https":
            conn = http.client.HTTPSConnection(parts.hostname, parts.port, timeout=timeout,
                                               context=ssl.create_default_context())
        else:
            conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        expired = threading.Event()

        def hang_up() -> None:  # the deadline: end the exchange wherever it is blocked
            expired.set()
            sock = conn.sock
            if sock is not None:
                try:  # the plain socket's shutdown, also under TLS: it only wakes the blocked read
                    socket.socket.shutdown(sock, socket.SHUT_RDWR)
                except OSError:
                    pass

        watchdog = threading.Timer(min(timeout, threading.TIMEOUT_MAX), hang_up)
        watchdog.daemon = True
        watchdog.start()
        try:
            conn.request("POST", target, body=body, headers={**headers, "user-agent": self.user_agent})
            response = conn.getresponse()
            data = response.read(MAX_READ_BYTES)
            status = response.status
        except Exception:
            if expired.is_set():  # what the hang-up made of the exchange: the timeout it was
                raise DeliveryTimeout(f"no complete answer within {timeout:g}s") from None
            raise
        finally:
            watchdog.cancel()
            conn.close()
        if expired.is_set() or time.monotonic() - started > timeout:
            raise DeliveryTimeout(f"no complete answer within {timeout:g}s")
        return HttpAnswer(status, data)


def describe_error(exc: BaseException, timeout: float) -> str:
    if isinstance(exc, DeliveryTimeout):
        return f"timeout: {exc}"
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return f"timeout: no answer within {timeout:g}s"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, socket.gaierror):
        return f"name resolution failed: {exc}"
    if isinstance(exc, ssl.SSLError):
        return f"TLS error: {exc}"
    if isinstance(exc, http.client.InvalidURL):  # http.client refuses a space or control character in it
        return f"invalid notification URL: {exc}"
    if isinstance(exc, http.client.HTTPException):
        return f"bad HTTP answer: {type(exc).__name__} {exc}".strip()
    return f"{type(exc).__name__}: {exc}"


def ack_problem(status: int, data: bytes) -> str | None:
    """None when the answer acknowledges the notification, else why it does not."""
    if status != 200:
        return f"HTTP {status}"
    try:
        parsed = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):  # RecursionError: nested past Python's limit
        return "the answer is not JSON"
    res = parsed.get("result") if isinstance(parsed, dict) else None
    if not isinstance(res, dict):
        return "the answer has no result object"
    if res.get("resultStatus") != "S" or res.get("resultCode") != "SUCCESS":
        return (f"result is resultStatus={res.get('resultStatus')!r}, resultCode={res.get('resultCode')!r}"
                " (an ack needs S and SUCCESS)")
    return None


# -- the notification body ----------------------------------------------------------

def notification_body(vault) -> dict:
    """notifyVaulting for a final vault: result, vaultingRequestId, paymentMethodDetail
    (as inquireVaulting reports it), vaultingCreateTime, metadata."""
    if vault["status"] == "SUCCESS":
        res = result("SUCCESS")
    elif vault["result_status"] == "F":
        res = result(vault["result_code"], vault["result_message"], status="F")
    else:  # a challenge that failed or expired on a row still marked U
        res = result("VERIFICATION_FAIL", vault["vaulting_result_message"], status="F")
    body: dict[str, Any] = {"result": res, "vaultingRequestId": vault["vaulting_request_id"]}
    if vault["status"] == "SUCCESS" and vault["payment_method_detail"]:
        body["paymentMethodDetail"] = json.loads(vault["payment_method_detail"])
    body["vaultingCreateTime"] = iso(vault["created_at"])
    if vault["metadata"]:
        body["metadata"] = vault["metadata"]
    return body


def notification_path(url: str) -> str:
    """The path that is signed: the notification URL's path alone (no query)."""
    return urlsplit(url).path or "/"


# -- the outbox -----------------------------------------------------------------------

class NotFound(LookupError):
    pass


def _check_id(notification_id: int) -> None:
    """An id SQLite cannot hold (past 64 bits) is no notification, not an OverflowError."""
    if not -2 ** 63 <= notification_id < 2 ** 63:
        raise NotFound(f"no notification {notification_id}")


class Notifier:
    def __init__(self, store, clock, keyring, config, transport: Callable | None = None):
        self.store = store
        self.clock = clock
        self.keyring = keyring
        self.config = config
        self.transport = transport or HttpTransport()
        self._local = threading.local()

    # -- enqueue (inside the vault's transaction) ----------------------------------
    def on_final(self, db, vault) -> int | None:
        """The Vaulting.final_listeners hook: store the notification and its first
        attempt in the caller's transaction. `vault` is the row as stored (with its
        id). Returns the notification id (None: no URL)."""
        url = vault["notification_url"]
        if not url:
            return None
        schedule = list(self.config.notify_schedule) or [0]
        if self.config.notify_once:
            schedule = schedule[:1]
        now = self.clock.now()
        nid = self.store.insert_notification(db, {
            "kind": KIND,
            "client_id": vault["client_id"],
            "vaulting_request_id": vault["vaulting_request_id"],
            "vault_id": vault["id"],
            "url": url,
            "body": store_mod.dumps(notification_body(vault)),
            "status": "pending",
            "schedule": json.dumps(schedule),
            "max_attempts": len(schedule),
            "created_at": now,
            "updated_at": now,
        })
        self.store.insert_attempt(db, nid, now + self.config.notify_delay + schedule[0], schedule_index=1)
        self._local.enqueued = True
        return nid

    def take_enqueued_flag(self) -> bool:
        """True once after this thread enqueued something (to wake the dispatcher after commit)."""
        flag = getattr(self._local, "enqueued", False)
        self._local.enqueued = False
        return flag

    def resend(self, notification_id: int) -> dict:
        """Send the notification once more, now, outside the schedule."""
        _check_id(notification_id)
        with self.store.tx() as db:
            n = self.store.get_notification_in(db, notification_id)
            if n is None:
                raise NotFound(f"no notification {notification_id}")
            self.store.insert_attempt(db, notification_id, self.clock.now(), schedule_index=None)
            self.store.update_notification(db, notification_id, {"updated_at": self.clock.now()})
        return self.get(notification_id)

    # -- sending ------------------------------------------------------------------
    @property
    def lease(self) -> float:
        return self.config.notify_timeout + LEASE_MARGIN

    def claim(self, owner: str, limit: int) -> list:
        """Take up to `limit` due attempts for dispatcher `owner`. Each claim is recorded as
        "<owner>/<nonce>" (`claimed_by`): an attempt id that comes back after a reset (SQLite
        reuses the ids of deleted rows) and is claimed again by the same dispatcher is a
        different claim, so the outcome of a send still in flight from before the reset
        cannot be recorded on it."""
        now_mock, now_real = self.clock.now(), time.time()
        if limit <= 0 or not self.store.any_claimable(now_mock, now_real):
            return []
        claim = f"{owner}/{uuid.uuid4().hex[:12]}"
        return self.store.claim_attempts(claim, now_mock, now_real, now_real + self.lease, limit)

    def release_dead_claims(self) -> int:
        """Make the attempts claimed by dispatchers of this machine whose process is gone
        claimable now, not when their lease runs out (see dead_local_owner). Returns how many."""
        released = 0
        for owner in self.store.sending_owners():
            if dead_local_owner(owner):
                count = self.store.release_claims(owner)
                if count:
                    log.warning("%s: %d attempt(s) claimed by %s, a process that is gone, are sent again",
                                KIND, count, owner)
                released += count
        return released

    def headers_for(self, client_id: str, url: str, request_time: str, body: bytes) -> dict[str, str]:
        value = signing.sign(self.keyring.private_key, "POST", notification_path(url), client_id, request_time, body)
        return {
            "content-type": "application/json; charset=UTF-8",
            "client-id": client_id,
            "request-time": request_time,
            "signature": signing.signature_header(value),
        }

    def deliver(self, attempt) -> str:
        """Send one claimed attempt (a row `claim` returned) and record what happened under
        the claim it was taken with. Returns the attempt's final state (acked | failed), or
        'lost' when that claim is gone: taken over after its lease, or the attempt deleted
        (a reset), its id perhaps reused since."""
        sent_at = self.clock.now()
        request_time = iso(sent_at)
        body = attempt["body"].encode("utf-8")
        timeout = self.config.notify_timeout
        status, data, error = None, b"", None
        started = time.perf_counter()
        try:
            # inside the try: a URL urlsplit() cannot read ("http://[") fails this attempt, recorded,
            # instead of leaving it claimed ("sending") and raising out of the dispatcher
            headers = self.headers_for(attempt["client_id"], attempt["url"], request_time, body)
            answer = self.transport(attempt["url"], headers, body, timeout)
            status, data = answer.status, answer.body or b""
            error = ack_problem(status, data)
        except Exception as exc:  # noqa: BLE001 - every failure is an outcome to record
            error = describe_error(exc, timeout)
        latency_ms = (time.perf_counter() - started) * 1000
        acked = error is None
        state = "acked" if acked else "failed"
        recorded = self._record(attempt, {
            "state": state,
            "sent_at": sent_at,
            "request_time": request_time,
            "http_status": status,
            "error": error,
            "latency_ms": round(latency_ms, 3),
            "response_excerpt": data[:EXCERPT_BYTES].decode("utf-8", "replace") if data else None,
        })
        log.info("%s #%s attempt %s to %s: %s (%.1f ms)", KIND, attempt["notification_id"], attempt["number"],
                 attempt["url"][:200], "acknowledged" if acked else error, latency_ms)
        return state if recorded else "lost"

    def _record(self, attempt, fields: dict) -> bool:
        nid = attempt["notification_id"]
        with self.store.tx() as db:
            if not self.store.complete_attempt(db, attempt["id"], attempt["claimed_by"], fields):
                log.warning("%s #%s attempt %s: claim lost (lease expired); outcome dropped",
                            KIND, nid, attempt["number"])
                return False
            n = self.store.get_notification_in(db, nid)
            now = self.clock.now()
            changes: dict[str, Any] = {"updated_at": now}
            if fields["state"] == "acked":
                if n["status"] != "delivered":
                    changes.update(status="delivered", delivered_at=fields["sent_at"])
                self.store.cancel_scheduled_attempts(db, nid)
            else:
                index = attempt["schedule_index"]
                schedule = json.loads(n["schedule"])
                if index is not None and index < n["max_attempts"] and n["status"] == "pending":
                    self.store.insert_attempt(db, nid, fields["sent_at"] + schedule[index], schedule_index=index + 1)
                elif n["status"] == "pending" and self.store.open_attempts_in(db, nid) == 0:
                    changes["status"] = "given_up"
            self.store.update_notification(db, nid, changes)
        return True

    # -- inspection ------------------------------------------------------------------
    def list(self, vaulting_request_id: str | None = None, client_id: str | None = None,
             status: str | None = None, limit: int = 100, offset: int = 0) -> list[dict]:
        with self.store.snapshot():  # the notifications and their attempts as of one moment
            rows = self.store.list_notifications(vaulting_request_id, client_id, status, limit, offset)
            return self._describe(rows)

    def get(self, notification_id: int) -> dict:
        _check_id(notification_id)
        with self.store.snapshot():
            row = self.store.get_notification(notification_id)
            if row is None:
                raise NotFound(f"no notification {notification_id}")
            return self._describe([row])[0]

    def _describe(self, rows) -> list[dict]:
        attempts: dict[int, list] = {}
        for a in self.store.attempts_for([r["id"] for r in rows]):
            attempts.setdefault(a["notification_id"], []).append(a)
        out = []
        for r in rows:
            mine = attempts.get(r["id"], [])
            upcoming = [a["due_at"] for a in mine if a["state"] == "scheduled"]
            out.append({
                "id": r["id"],
                "type": r["kind"],
                "clientId": r["client_id"],
                "vaultingRequestId": r["vaulting_request_id"],
                "url": r["url"],
                "status": r["status"],
                "createdAt": iso(r["created_at"]),
                "deliveredAt": iso(r["delivered_at"]) if r["delivered_at"] is not None else None,
                "nextAttemptAt": iso(min(upcoming)) if upcoming else None,
                "maxAttempts": r["max_attempts"],
                "body": json.loads(r["body"]),
                "attempts": [_describe_attempt(a) for a in mine],
            })
        return out


def _describe_attempt(a) -> dict:
    owner = a["claimed_by"] or ""
    return {
        "number": a["number"],
        "scheduleIndex": a["schedule_index"],
        "manual": a["schedule_index"] is None,
        "state": a["state"],
        "scheduledAt": iso(a["due_at"]),
        "sentAt": iso(a["sent_at"]) if a["sent_at"] is not None else None,
        "requestTime": a["request_time"],
        "httpStatus": a["http_status"],
        "error": a["error"],
        "latencyMs": a["latency_ms"],
        "response": a["response_excerpt"],
        "workerPid": int(owner.split(":", 1)[0]) if owner[:1].isdigit() else None,
    }


# -- the dispatcher ------------------------------------------------------------------

class Dispatcher:
    """A background thread (one per process) that runs periodic tasks and sends due
    notification attempts from a small pool. `run_once()` does one synchronous pass
    (what unit tests and CLI-less tools use)."""

    def __init__(self, notifier: Notifier, config):
        self.notifier = notifier
        self.interval = max(0.01, float(config.dispatch_interval))
        self.concurrency = config.notify_concurrency
        self._tasks: list[Callable[[], Any]] = []
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._inflight = 0
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._owner: tuple[int, str] | None = None

    @property
    def owner(self) -> str:
        """Who claims: unique per process (and per dispatcher), recomputed after a fork.
        "<pid>:<host key>:<random>": the pid and the machine it runs on (see release_dead_claims)."""
        if self._owner is None or self._owner[0] != os.getpid():
            self._owner = (os.getpid(), f"{os.getpid()}:{host_key()}:{uuid.uuid4().hex[:12]}")
            _OWNERS_HERE.add(self._owner[1])
        return self._owner[1]

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def add_task(self, fn: Callable[[], Any]) -> None:
        """Run `fn()` on every tick of the dispatcher (and in run_once); its errors are logged."""
        self._tasks.append(fn)

    def wake(self) -> None:
        """Run a pass now instead of at the next tick (after a clock advance, a resend, a new notification)."""
        self._wake.set()

    # -- synchronous -------------------------------------------------------------------
    def run_tasks(self) -> None:
        for task in list(self._tasks):
            try:
                task()
            except Exception:  # noqa: BLE001 - a failing task must not stop the dispatcher
                log.exception("dispatcher task %r failed", task)

    def run_once(self) -> int:
        """Run the tasks, then send every attempt that is due, inline. Returns how many were sent."""
        self.run_tasks()
        sent = 0
        while True:
            claimed = self.notifier.claim(self.owner, self.concurrency)
            if not claimed:
                return sent
            for attempt in claimed:
                self.notifier.deliver(attempt)
                sent += 1

    # -- background ------------------------------------------------------------------
    def start(self) -> "Dispatcher":
        if self.running:
            return self
        self._stop.clear()
        self._pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="mockpay-notify")
        self._thread = threading.Thread(target=self._loop, name="mockpay-dispatcher", daemon=True)
        self._thread.start()
        atexit.register(self.stop)
        return self

    def stop(self, timeout: float | None = None) -> None:
        """Stop claiming; wait (up to the send timeout) for sends in flight to be recorded."""
        if self._thread is None:
            return
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=5)
        wait = self.notifier.config.notify_timeout + 1 if timeout is None else timeout
        with self._idle:
            self._idle.wait_for(lambda: self._inflight == 0, timeout=wait)
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        self._thread = None
        try:
            atexit.unregister(self.stop)
        except Exception:  # noqa: BLE001
            pass

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            more = False
            try:
                self.run_tasks()
                more = self._dispatch()
            except Exception:  # noqa: BLE001 - e.g. a locked database: try again next tick
                log.exception("dispatcher pass failed")
            if not more:
                self._wake.wait(self.interval)

    def _dispatch(self) -> bool:
        """Claim as many due attempts as there are free senders; True if there may be more."""
        with self._lock:
            free = self.concurrency - self._inflight
        if free <= 0 or self._stop.is_set():
            return False
        claimed = self.notifier.claim(self.owner, free)
        with self._lock:
            self._inflight += len(claimed)
        for index, attempt in enumerate(claimed):
            try:
                self._pool.submit(self._send, attempt)
            except RuntimeError:
                # The pool takes no more: the interpreter is exiting (a gunicorn worker's graceful
                # stop, SIGHUP or SIGTERM) and shut every pool down before the atexit hook that
                # stops this loop. Give back what was claimed and not sent, and claim no more:
                # left claimed, it waited for this process to die and a dispatcher to notice.
                self._give_back(claimed[index:])
                self._stop.set()
                return False
        return len(claimed) == free

    def _give_back(self, attempts) -> None:
        try:
            for attempt in attempts:
                self.notifier.store.release_claim(attempt["id"], attempt["claimed_by"])
        except Exception:  # noqa: BLE001 - the lease (or release_dead_claims) still frees them
            log.exception("%s: giving back %d claimed attempt(s) failed", KIND, len(attempts))
        finally:
            with self._idle:
                self._inflight -= len(attempts)
                self._idle.notify_all()

    def _send(self, attempt) -> None:
        try:
            self.notifier.deliver(attempt)
        except Exception:  # noqa: BLE001 - the claim's lease lets another pass retry it
            log.exception("%s #%s: recording attempt %s failed", KIND, attempt["notification_id"], attempt["number"])
        finally:
            with self._idle:
                self._inflight -= 1
                self._idle.notify_all()
            self._wake.set()


def init_app(app, notifier: Notifier, dispatcher: Dispatcher) -> None:
    """Wake the dispatcher after a request that enqueued a notification (its
    transaction has committed by then), and start it when configured."""

    @app.teardown_request
    def _wake_after_enqueue(exc):
        if notifier.take_enqueued_flag():
            dispatcher.wake()

    dispatcher.add_task(Every(DEAD_CLAIM_CHECK_SECONDS, notifier.release_dead_claims))  # proof (issue 7)
    if notifier.config.dispatcher:
        dispatcher.start()


# -- proof (issue 7): claims of processes that died ---------------------------------------
# A dispatcher killed mid-send (SIGKILL, OOM) leaves its attempts claimed until the
# lease runs out, a minute or more after a restart. A claim records the pid and the
# machine; a dispatcher on the same machine that finds the pid gone releases the
# claim at once, and the attempt goes out again (at least once: the dead process may
# have sent it). Claims from other machines (a shared volume) wait for their lease.

DEAD_CLAIM_CHECK_SECONDS = 2.0
_HOST_KEY: str | None = None


def host_key() -> str:
    """This machine and boot, as 8 hex digits: where a claim's pid means something."""
    global _HOST_KEY
    if _HOST_KEY is None:
        import hashlib
        try:
            with open("/proc/sys/kernel/random/boot_id") as f:
                boot = f.read().strip()
        except OSError:
            boot = ""
        _HOST_KEY = hashlib.sha256(f"{socket.gethostname()}|{boot}".encode()).hexdigest()[:8]
    return _HOST_KEY


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


# The dispatchers of this process ("<pid>:<host key>:<random>"): a claim in our own pid
# that none of them made is a dead process's that had our pid.
_OWNERS_HERE: set[str] = set()


def dead_local_owner(owner: str) -> bool:
    """True when the claim (or owner) was made on this machine by a process that is gone."""
    base = owner.partition("/")[0]  # a claim is "<owner>/<nonce>"
    pid, _, rest = base.partition(":")
    host = rest.partition(":")[0]
    if not pid.isdigit() or host != host_key():
        return False
    if int(pid) == os.getpid():
        # A container restarted after a SIGKILL numbers its processes as before: the worker
        # now holding the dead one's pid is the only one that can tell its claims are not its own
        return base not in _OWNERS_HERE
    return not pid_alive(int(pid))


class Every:
    """A dispatcher task that runs `fn` at most once per `seconds` (monotonic)."""

    def __init__(self, seconds: float, fn: Callable[[], Any]):
        self.seconds, self.fn, self._last = seconds, fn, None

    def __call__(self):
        now = time.monotonic()
        if self._last is not None and now - self._last < self.seconds:
            return None
        self._last = now
        return self.fn()



__all__ = ["Dispatcher", "HttpAnswer", "HttpTransport", "Notifier", "NotFound", "ack_problem",
           "notification_body", "notification_path", "init_app", "KIND", "STATUSES"]
