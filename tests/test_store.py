"""The store's write gate: writers wait in line (threads on a lock, processes on an
flock) rather than polling SQLite's busy handler."""
from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time

from mockpay.store import Store


def _lock_fds(path: str) -> list[str]:
    """This process's open descriptors on the gate's lock file."""
    out = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}") == path + ".lock":
                out.append(fd)
        except OSError:
            pass
    return out


def test_threads_starting_together_share_one_gate(tmp_path, monkeypatch):
    store = Store(tmp_path / "db.sqlite3")
    real_open = os.open

    def slow_open(*args, **kwargs):  # widen the window in which other threads could also open it
        time.sleep(0.05)
        return real_open(*args, **kwargs)

    monkeypatch.setattr(os, "open", slow_open)
    barrier = threading.Barrier(16)
    done = []

    def write(i):
        barrier.wait()
        with store.tx() as db:
            db.execute("INSERT INTO meta (key, value) VALUES (?, ?)", (f"k{i}", "v"))
        done.append(i)

    threads = [threading.Thread(target=write, args=(i,), daemon=True) for i in range(16)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 20
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    monkeypatch.undo()
    assert sorted(done) == list(range(16)), "a writer is stuck"
    assert len(_lock_fds(store.path)) == 1, "each process opens the lock file once"
    assert store.get_meta("k15") == "v"


def test_stores_on_one_file_share_its_gate_and_leak_no_descriptors(tmp_path):
    """Apps, CLI commands and tests make many Stores in one process: one lock file descriptor."""
    path = tmp_path / "db.sqlite3"
    for i in range(50):
        Store(path).set_meta(f"k{i}", "v")
    assert len(_lock_fds(str(path))) == 1
    assert Store(path).get_meta("k49") == "v"


def _hold_gate(path, holding, release):
    store = Store(path)
    with store.tx() as db:
        db.execute("INSERT INTO meta (key, value) VALUES ('child', 'first')")
        holding.set()
        release.wait(20)


def _child_holding_gate(path):
    """A forked process that has begun a write transaction and holds it until released."""
    ctx = multiprocessing.get_context("fork")
    holding, release = ctx.Event(), ctx.Event()
    child = ctx.Process(target=_hold_gate, args=(path, holding, release))
    child.start()
    assert holding.wait(20)
    return child, release


def test_a_writer_in_another_process_waits_for_the_gate(tmp_path):
    path = tmp_path / "db.sqlite3"
    Store(path)
    child, release = _child_holding_gate(path)
    try:
        store = Store(path)
        wrote = threading.Event()

        def write():
            store.set_meta("parent", "second")
            wrote.set()

        threading.Thread(target=write, daemon=True).start()
        assert not wrote.wait(0.5), "the parent wrote while the child held the gate"
        release.set()
        assert wrote.wait(20)
        assert store.get_meta("child") == "first" and store.get_meta("parent") == "second"
    finally:
        release.set()
        child.join(20)


def test_a_killed_writer_leaves_the_gate_open(tmp_path):
    path = tmp_path / "db.sqlite3"
    Store(path)
    child, _ = _child_holding_gate(path)
    os.kill(child.pid, signal.SIGKILL)
    child.join(20)
    store = Store(path)
    wrote = threading.Event()
    threading.Thread(target=lambda: (store.set_meta("after", "kill"), wrote.set()), daemon=True).start()
    assert wrote.wait(20), "the dead writer's lock was not released"
    assert store.get_meta("child") is None, "the dead writer's transaction must not be kept"
    assert store.get_meta("after") == "kill"
