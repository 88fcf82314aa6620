"""Settings: defaults, then MOCKPAY_* environment variables, then explicit overrides.

Overrides come from CLI flags or, in tests, from the mapping given to create_app().
"""
from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass, field
from pathlib import Path


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "mockpay"


# A day of mock time in about 0.09 s: plenty for tests, and far from the end of the clock.
MAX_TIME_SCALE = 1_000_000.0
# the longest wait for a merchant's answer, in seconds (a day: the retry schedule's span)
MAX_NOTIFY_TIMEOUT = 86400.0
# the longest a dispatcher sleeps between passes when nothing wakes it, in seconds
MAX_DISPATCH_INTERVAL = 3600.0
# simultaneous sends per worker: each is a thread while it lasts
MAX_NOTIFY_CONCURRENCY = 256


@dataclass
class Config:
    data_dir: Path = field(default_factory=default_data_dir)
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 0  # 0: one per core
    threads: int = 4
    tls: bool = False
    tls_hosts: tuple[str, ...] = ()
    # Base URL used in links the mock hands out (normalUrl, challenge pages);
    # empty means "derived from the incoming request".
    public_url: str = ""
    scenarios: tuple[str, ...] = ()
    time_scale: float = 1.0
    max_body_bytes: int = 1024 * 1024
    # how far request-time may be from the wall clock, in seconds (0: not checked)
    request_time_tolerance: float = 3600.0
    # how long a scenario's "timeout" fault holds the answer back
    fault_timeout: float = 20.0
    # notifications
    notify_schedule: tuple[int, ...] = (0, 120, 600, 600, 3600, 7200, 21600, 54000)
    notify_once: bool = False
    notify_timeout: float = 5.0
    notify_delay: float = 0.0
    dispatcher: bool = True
    dispatch_interval: float = 0.2
    # notify (issue 4): concurrent sends per worker process
    notify_concurrency: int = 8
    # lifetimes, in seconds of mock time
    challenge_ttl: int = 15 * 60
    session_ttl: int = 30 * 60
    card_token_ttl: int = 30 * 60
    # developer experience
    admin_token: str = ""
    log_format: str = "text"
    journal_cap: int = 10000
    testing: bool = False
    # -- issue 6, dx-ops: a second, HTTPS listener beside the HTTP one (0: none)
    https_port: int = 0

    def __post_init__(self):
        if not (math.isfinite(self.time_scale) and 0 < self.time_scale <= MAX_TIME_SCALE):
            raise ValueError(f"time scale must be above 0 and at most {MAX_TIME_SCALE:,.0f}, "
                             f"not {self.time_scale:g}")
        for f in dataclasses.fields(self):  # "1e400", "inf", "nan": no timeout, interval or lifetime
            value = getattr(self, f.name)
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"{f.name.replace('_', ' ')} (MOCKPAY_{f.name.upper()}) must be a finite "
                                 f"number, not {value:g}")
        # a send needs time to happen at all (0 made every socket non-blocking,
        # a negative value every send a ValueError: no merchant got a notification), and its
        # claim's lease (timeout + 60 s) must outlast it
        if not 0 < self.notify_timeout <= MAX_NOTIFY_TIMEOUT:
            raise ValueError(f"notify timeout (MOCKPAY_NOTIFY_TIMEOUT) must be above 0 and at most "
                             f"{MAX_NOTIFY_TIMEOUT:,.0f} seconds, not {self.notify_timeout:g}")
        # the dispatcher's idle wait: past about 9e9 s Python's wait raises OverflowError, which
        # killed the dispatcher thread of every worker (nothing sent, no challenge expired)
        if self.dispatch_interval > MAX_DISPATCH_INTERVAL:
            raise ValueError(f"dispatch interval (MOCKPAY_DISPATCH_INTERVAL) must be at most "
                             f"{MAX_DISPATCH_INTERVAL:,.0f} seconds, not {self.dispatch_interval:g}")

        # a due attempt per thread: 100000 meant as many threads when that many fell due at once
        if not 1 <= self.notify_concurrency <= MAX_NOTIFY_CONCURRENCY:
            raise ValueError(f"notify concurrency (MOCKPAY_NOTIFY_CONCURRENCY) must be 1 to {MAX_NOTIFY_CONCURRENCY}, "
                             f"not {self.notify_concurrency}")

        # what gunicorn would otherwise meet as a traceback (OverflowError from
        # bind() for a port past 65535 or below 0; "max_workers must be greater than 0" in
        # every worker for 0 threads, then 'Worker failed to boot')
        for name in ("port", "https_port"):
            value = getattr(self, name)
            if not 0 <= value <= 65535:
                raise ValueError(f"{name.replace('_', ' ')} (MOCKPAY_{name.upper()}) must be 0 to 65535, not {value}")
        if self.threads < 1:
            raise ValueError(f"threads (MOCKPAY_THREADS) must be at least 1, not {self.threads}")

    def replace(self, **changes) -> "Config":
        return dataclasses.replace(self, **changes)

    @property
    def db_path(self) -> Path:
        return Path(self.data_dir) / "mockpay.sqlite3"


def _parse_bool(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _parse_tuple(value: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in value.replace(";", ",").split(",") if v.strip())


def _coerce(f: dataclasses.Field, value):
    """Turn an environment string (or a loosely typed override) into the field's type."""
    kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
    if kind == "Path":
        return Path(value)
    if kind == "bool":
        return _parse_bool(value) if isinstance(value, str) else bool(value)
    if kind == "int":
        return int(value)
    if kind == "float":
        return float(value)
    if kind.startswith("tuple[int"):
        items = _parse_tuple(value) if isinstance(value, str) else value
        return tuple(int(v) for v in items)
    if kind.startswith("tuple"):
        items = _parse_tuple(value) if isinstance(value, str) else value
        return tuple(str(v) for v in items)
    return value


def load_config(overrides: dict | None = None, environ: dict | None = None) -> Config:
    """Defaults, then MOCKPAY_<FIELD> variables, then `overrides` (None values are skipped)."""
    environ = os.environ if environ is None else environ
    values = {}
    fields = {f.name: f for f in dataclasses.fields(Config)}
    for name, f in fields.items():
        env_value = environ.get("MOCKPAY_" + name.upper())
        if env_value is not None and env_value != "":
            try:
                values[name] = _coerce(f, env_value)
            except ValueError:  # int('abc') names neither the variable nor what it wants
                kind = {"int": "an integer", "float": "a number"}.get(str(f.type), "comma-separated integers")
                raise ValueError(f"MOCKPAY_{name.upper()} must be {kind}, not {env_value[:50]!r}") from None
    for name, value in (overrides or {}).items():
        if name not in fields:
            raise KeyError(f"unknown setting {name!r}")
        if value is None:
            continue
        values[name] = _coerce(fields[name], value)
    return Config(**values)
