"""Worker logs: one JSON object per line on stdout, in the shape Google Cloud
Logging reads from a container (severity, message, time, sourceLocation and
any extra fields as jsonPayload), or plain lines when stdout is a terminal.
Anything shaped like a key string is redacted: errors quote their input."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import IO, Any

from scanner.core.secrets import scrub
from scanner.report.formats import terminal_safe

# Attributes every LogRecord has; anything else was passed with extra= and
# becomes a field of the JSON object.
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}


def extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in record.__dict__.items() if k not in _STANDARD}


class CloudLoggingJsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.exc_info:
            # Error Reporting finds a stack trace at the end of the message.
            message = f"{message}\n{self.formatException(record.exc_info)}"
        entry: dict[str, Any] = {
            "severity": record.levelname if record.levelname != "WARN" else "WARNING",
            "message": scrub(message),
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "logger": record.name,
            "logging.googleapis.com/sourceLocation": {
                "file": record.pathname,
                "line": record.lineno,
                "function": record.funcName,
            },
        }
        for key, value in extra_fields(record).items():
            entry.setdefault(key, scrub(value) if isinstance(value, str) else value)
        return json.dumps(entry, default=str, ensure_ascii=False)


class ConsoleFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(message)s", "%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        fields = extra_fields(record)
        if fields:
            text += "  " + " ".join(f"{k}={v}" for k, v in fields.items())
        # Messages can carry text from the inventory; no escape sequence of
        # theirs reaches the terminal, and no key string.
        return "\n".join(terminal_safe(scrub(line)) for line in text.split("\n"))


def setup_logging(level: str = "INFO", stream: IO[str] | None = None) -> None:
    """Route all logs to STREAM (stdout): JSON, or plain text on a terminal."""
    out = stream or sys.stdout
    handler = logging.StreamHandler(out)
    is_terminal = hasattr(out, "isatty") and out.isatty()
    handler.setFormatter(ConsoleFormatter() if is_terminal else CloudLoggingJsonFormatter())
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
    # APScheduler logs every job start and end at INFO; the worker logs its own.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
