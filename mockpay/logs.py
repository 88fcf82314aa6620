"""Log output: one line per API call, as text for a terminal or as JSON lines.

Both formats pass every line (tracebacks included) through the card-number
redaction, so a full card number cannot reach the log even from an exception
message. `mockpay serve --log-format json` also turns gunicorn's own messages
into JSON, so that every line on stderr parses.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import re
import sys

from .cards import redact_card_numbers
from .text import CONTROL

FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def _redact_value(value):
    if isinstance(value, str):
        return redact_card_numbers(value)
    if isinstance(value, dict):
        return {k: _redact_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_redact_value(v) for v in value]
    return value


def _escape_control(match: re.Match) -> str:
    return repr(match.group())[1:-1]


class TextFormatter(logging.Formatter):
    """One line per record, then the traceback if any: a line break in the message itself
    is written as \\n, so that no client can forge a log line."""

    def __init__(self, fmt: str = TEXT_FORMAT, datefmt: str | None = None):
        super().__init__(fmt, datefmt)

    def formatMessage(self, record: logging.LogRecord) -> str:
        # control characters (line breaks included) a client can put in what a line quotes
        # (the request path: /v1/x%0A... decodes to a line break), written as escapes
        return CONTROL.sub(_escape_control, super().formatMessage(record))

    def format(self, record: logging.LogRecord) -> str:
        return redact_card_numbers(super().format(record))


class JsonFormatter(logging.Formatter):
    """{"time", "level", "logger", "message", ...the record's `call` fields, "exception"}"""

    def format(self, record: logging.LogRecord) -> str:
        out = {
            "time": dt.datetime.fromtimestamp(record.created, tz=dt.timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        call = getattr(record, "call", None)
        if isinstance(call, dict):
            out.update(call)
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            out["exception"] = record.exc_text
        return json.dumps(_redact_value(out), ensure_ascii=False, default=str)


def formatter(log_format: str) -> logging.Formatter:
    if log_format not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}, not {log_format!r}")
    return JsonFormatter() if log_format == "json" else TextFormatter()


def configure(log_format: str, stream=None) -> None:
    """Route every logger through one stderr handler with the chosen format."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter(log_format))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    logging.getLogger("mockpay").setLevel(logging.INFO)


def gunicorn_logger_class(log_format: str):
    """gunicorn's Logger, with its error log formatted (and redacted) like ours."""
    from gunicorn.glogging import Logger

    chosen = formatter(log_format)

    class MockpayGunicornLogger(Logger):
        def setup(self, cfg):
            super().setup(cfg)
            for handler in self.error_log.handlers:
                handler.setFormatter(chosen)

    return MockpayGunicornLogger
