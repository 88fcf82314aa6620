"""Two listeners, one server: plain HTTP and HTTPS side by side.

gunicorn applies its TLS settings to every socket it binds, so HTTP and HTTPS
need two gunicorn arbiters. `supervise` forks one child per arbiter, forwards
signals to them, reaps them, and when one ends stops the other and exits with
its status: a container never keeps running half a server. Both arbiters share
the data directory (SQLite in WAL mode), so they serve the same state.
"""
from __future__ import annotations

import logging
import os
import signal
import sys
import traceback
from typing import Callable

log = logging.getLogger("mockpay.serve")

FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2)
STOPPING = (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT)


def _die_with_parent() -> None:
    """Linux: get SIGTERM when the supervisor dies, even by SIGKILL."""
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGTERM), 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _child(run: Callable[[], None]) -> None:
    code = 0
    try:
        _die_with_parent()
        run()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:  # noqa: BLE001 - report, then leave without running the parent's clean-up
        traceback.print_exc()
        code = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def supervise(runners: list[Callable[[], None]]) -> int:
    """Run each callable in a child process; return the exit status of the first to end."""
    children: dict[int, int] = {}
    for index, run in enumerate(runners):
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            _child(run)
        children[pid] = index

    stopping = False

    def forward(signum, _frame):
        nonlocal stopping
        if signum in STOPPING:
            stopping = True
        for pid in children:
            try:
                os.kill(pid, signum)
            except ProcessLookupError:
                pass

    previous = {s: signal.signal(s, forward) for s in FORWARDED}
    status = 0
    try:
        while children:
            try:
                pid, wait_status = os.wait()
            except ChildProcessError:
                break
            if pid not in children:
                continue  # an orphan reparented to us (we may be PID 1 in a container)
            children.pop(pid)
            code = os.waitstatus_to_exitcode(wait_status)
            if not stopping:
                log.error("a listener stopped (exit status %s); stopping the other", code)
                status = code if code > 0 else 1
                stopping = True
                for other in children:
                    try:
                        os.kill(other, signal.SIGTERM)
                    except ProcessLookupError:
                        pass
            elif code > 0 and status == 0:
                status = code
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    return status
