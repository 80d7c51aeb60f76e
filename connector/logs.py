"""How the bridge's processes log: one JSON object per line off a terminal (Heroku's log
drains, Papertrail, Datadog parse them), plain lines on a terminal (a person reads them).

A small formatter on the standard library's logging, not python-json-logger: the object
has a handful of fixed keys and the context below, and a library would add a
dependency for twenty lines.

Context: :func:`context` sets ``event_key``, ``job_id``, ``sf_request_id`` or ``records``
for the code it wraps (contextvars, so threads and tasks keep their own); every line
logged meanwhile carries them, in both formats.

Secrets: every line passes :func:`redact` (WeChat's ``access_token`` and ``secret`` in
query strings, bearer tokens, Salesforce session ids), whatever the caller wrote.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import re
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import IO, Any

CONTEXT_KEYS = ("event_key", "job_id", "sf_request_id", "records")
_context: contextvars.ContextVar[dict[str, str]] = contextvars.ContextVar(
    "bridge_log_context", default={})  # noqa: B039 - never mutated: replaced whole

_SECRETS = [
    # access_token=..., secret=..., client_secret=..., in URLs, forms and JSON alike
    (re.compile(r"(?i)((?:access_token|client_secret|secret|password|assertion)"
                r"[\"']?\s*[=:]\s*[\"']?)[^&\s\"',;]+"), r"\1[REDACTED]"),
    # 8 characters at least: a token is long, and "a bearer token" in prose stays readable
    (re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=!-]{8,}"), r"\1[REDACTED]"),
    # a Salesforce session id: the org id, '!', then the token
    (re.compile(r"\b00D[A-Za-z0-9]{12,15}![A-Za-z0-9._-]+"), "[REDACTED]"),
]


def redact(text: str) -> str:
    """``text`` with every secret pattern above replaced by ``[REDACTED]``."""
    for pattern, repl in _SECRETS:
        text = pattern.sub(repl, text)
    return text


@contextlib.contextmanager
def context(**values: str | None) -> Iterator[None]:
    """Add ``values`` (``event_key``, ``job_id``, ``sf_request_id``; None ones skipped)
    to every line logged inside the block."""
    token = _context.set({**_context.get(), **{k: str(v) for k, v in values.items()
                                                if v is not None}})
    try:
        yield
    finally:
        _context.reset(token)


def set_context(**values: str | None) -> None:
    """Add ``values`` to the current context until its block ends (for a value learnt
    mid-way, such as a Salesforce request id)."""
    _context.set({**_context.get(), **{k: str(v) for k, v in values.items()
                                       if v is not None}})


def current() -> dict[str, str]:
    """The context in force."""
    return dict(_context.get())


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC ISO 8601), level, logger, message, the
    context in force, and ``exc`` (the traceback, redacted) when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        data.update(_context.get())
        if record.exc_info:
            data["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(data, ensure_ascii=False, default=str)


class PlainFormatter(logging.Formatter):
    """``time LEVEL logger: message [key=value ...]``, redacted."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        extra = " ".join(f"{k}={v}" for k, v in _context.get().items())
        return redact(f"{text} [{extra}]" if extra else text)


def setup(level: str = "INFO", stream: IO[str] | None = None, *, force: bool = False) -> None:
    """Log to ``stream`` (default stderr): JSON unless it is a terminal. Like
    ``logging.basicConfig``, it leaves a root logger that already has someone else's
    handlers alone (a test runner's capture, an embedding application) unless ``force``;
    its own earlier handler is replaced, so calling it twice does not double the lines."""
    stream = stream or sys.stderr
    root = logging.getLogger()
    if not force and any(not getattr(h, "_bridge", False) for h in root.handlers):
        return
    for old in list(root.handlers):
        root.removeHandler(old)
    handler = logging.StreamHandler(stream)
    handler._bridge = True  # type: ignore[attr-defined]
    tty = hasattr(stream, "isatty") and stream.isatty()
    handler.setFormatter(PlainFormatter() if tty else JsonFormatter())
    root.addHandler(handler)
    root.setLevel(level.upper())


def ensure(level: str = "INFO") -> None:
    """:func:`setup` only when nobody has set logging up in this process (a process that
    never ran the CLI, such as a web worker uvicorn spawns)."""
    if not logging.getLogger().handlers:
        setup(level)
