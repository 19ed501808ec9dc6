"""The `web` process: Slack events, the Telegram webhook and a health check on $PORT."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from bot.app import App


def build_web_app(app: App) -> Starlette:
    async def healthz(request: Request) -> JSONResponse:
        try:
            with app.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except Exception as exc:
            return JSONResponse({"status": "database unavailable",
                                 "error": type(exc).__name__}, status_code=503)
        return JSONResponse({"status": "ok"})

    routes: list[BaseRoute] = [Route("/healthz", healthz)]
    settings = app.settings
    lifespan = None
    if settings.slack_bot_token and settings.slack_signing_secret:
        from bot.adapters import slack

        routes += slack.web_routes(app)
    if settings.telegram_bot_token and settings.telegram_webhook_url:
        from bot.adapters import telegram

        routes += telegram.web_routes(app)

        @asynccontextmanager
        async def lifespan(_web: Starlette) -> AsyncIterator[None]:
            # Tell Telegram where to deliver (with the secret) each time the web process starts.
            await asyncio.to_thread(telegram.register_webhook, app)
            yield

    return Starlette(routes=routes, lifespan=lifespan)
