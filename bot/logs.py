"""Structured logs: one JSON line per event, level from LOG_LEVEL, secrets scrubbed."""

from __future__ import annotations

import json
import logging
import sys

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self._secrets = [s for s in secrets if len(s) >= 6]

    def format(self, record: logging.LogRecord) -> str:
        event = {"time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"), "level":
                 record.levelname, "logger": record.name, "event": record.getMessage()}
        event.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info and record.exc_info[0] is not None:
            event["error"] = record.exc_info[0].__name__  # never the message: it may hold data
        line = json.dumps(event, default=str)
        for secret in self._secrets:
            line = line.replace(secret, "**********")
        return line


def configure_logging(level: str, secrets: list[str]) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level if level in logging.getLevelNamesMapping() else "WARNING")
    # httpx logs every request URL at INFO, and Telegram's URLs contain the bot token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    # The platform SDKs log whole payloads (message text, emails) at DEBUG.
    for sdk in ("slack_bolt", "slack_sdk", "telegram"):
        logging.getLogger(sdk).setLevel(max(logging.INFO, root.level))
