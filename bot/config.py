"""Settings from the environment: the only module that reads it. Secrets never print."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from handlers.storage.db import DEFAULT_DATABASE_URL


class Secret:
    """Holds a token or password; its repr and str are masked so logs cannot leak it."""

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __bool__(self) -> bool:
        return bool(self._value)


@dataclass(frozen=True)
class Settings:
    database_url: str
    programme_file: Path | None
    docs_folder: Path | None
    log_level: str
    port: int
    slack_bot_token: Secret | None
    slack_app_token: Secret | None
    slack_signing_secret: Secret | None
    slack_api_url: str | None
    telegram_bot_token: Secret | None
    telegram_api_url: str | None
    telegram_webhook_url: str | None
    telegram_webhook_secret: Secret | None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ

        def secret(name: str) -> Secret | None:
            value = env.get(name, "").strip()
            return Secret(value) if value else None

        def path(name: str) -> Path | None:
            value = env.get(name, "").strip()
            return Path(value) if value else None

        port = env.get("PORT", "8000").strip()
        if not port.isdigit():
            raise ValueError(f"PORT must be a number, not {port!r}")
        return cls(
            database_url=env.get("DATABASE_URL", "").strip() or DEFAULT_DATABASE_URL,
            programme_file=path("SPS_PROGRAMME"),
            docs_folder=path("SPS_DOCS"),
            log_level=env.get("LOG_LEVEL", "WARNING").strip().upper() or "WARNING",
            port=int(port),
            slack_bot_token=secret("SLACK_BOT_TOKEN"),
            slack_app_token=secret("SLACK_APP_TOKEN"),
            slack_signing_secret=secret("SLACK_SIGNING_SECRET"),
            slack_api_url=env.get("SLACK_API_URL") or None,
            telegram_bot_token=secret("TELEGRAM_BOT_TOKEN"),
            telegram_api_url=env.get("TELEGRAM_API_URL") or None,
            telegram_webhook_url=env.get("TELEGRAM_WEBHOOK_URL") or None,
            telegram_webhook_secret=secret("TELEGRAM_WEBHOOK_SECRET"),
        )

    def secrets(self) -> list[str]:
        """Every configured secret value, for log scrubbing."""
        values = [self.slack_bot_token, self.slack_app_token, self.slack_signing_secret,
                  self.telegram_bot_token, self.telegram_webhook_secret]
        return [s.reveal() for s in values if s]
