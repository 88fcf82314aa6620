"""The one clock of the mock. Every time-based rule reads it: response-time,
notification schedules, challenge, session and token expiry.

Mock time = anchor_mock + (wall time - anchor_real) * scale. The anchor lives in
SQLite, so every gunicorn worker and every restart sees the same time, and
`advance()` moves all of them at once.
"""
from __future__ import annotations

import datetime as dt
import math
import time


# The mock clock stays where ISO 8601 to the second (and Python's datetime) can write
# it: it may be advanced up to, not past, 9000-01-01T00:00:00Z.
LATEST = 221845392000.0


def iso(epoch: float) -> str:
    """ISO 8601 to the second, with offset: 2026-11-22T10:15:00+00:00."""
    return dt.datetime.fromtimestamp(int(epoch), tz=dt.timezone.utc).isoformat()


class Clock:
    # The anchor is also re-read once it has been kept this long (wall seconds), marker or
    # not: a process killed between committing a new anchor and writing the marker would
    # otherwise leave every other worker on the old time until the next advance.
    MAX_AGE = 1.0

    def __init__(self, store, scale: float | None = None):
        self._store = store
        self._cached: tuple[float, float, float] | None = None
        self._cached_version: bytes | None = None
        self._cached_at = 0.0
        if scale is not None:
            _, _, current = store.clock_state()
            if current != scale:
                store.clock_reanchor(scale=scale)

    def _state(self) -> tuple[float, float, float]:
        """The anchor, re-read from SQLite when another process (or this one) moved it, or
        when it is older than MAX_AGE."""
        version = self._store.clock_version()
        checked = time.monotonic()
        if self._cached is None or version != self._cached_version or checked - self._cached_at > self.MAX_AGE:
            self._cached = self._store.clock_state()
            self._cached_version, self._cached_at = version, checked
        return self._cached

    def now(self) -> float:
        """Mock epoch seconds. A fast clock stops at LATEST rather than run past what
        ISO 8601 can write."""
        anchor_real, anchor_mock, scale = self._state()
        return min(LATEST, anchor_mock + (time.time() - anchor_real) * scale)

    def now_iso(self) -> str:
        return iso(self.now())

    @property
    def scale(self) -> float:
        return self._state()[2]

    def advance(self, seconds: float) -> float:
        """Move the clock forward; ValueError for a step that is negative, not a finite
        number (NaN, or an int too large for a float, included) or past LATEST. Its
        message can be shown as it is."""
        try:
            seconds = float(seconds)
        except (TypeError, ValueError, OverflowError):
            seconds = math.nan
        if not (math.isfinite(seconds) and seconds >= 0):
            raise ValueError("seconds must be a number >= 0 (the clock only moves forward)")
        return self._store.clock_reanchor(advance_by=seconds, latest=LATEST)
