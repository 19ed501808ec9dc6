"""The logs never hold personal data or secrets: a scenario suite runs with DEBUG logging
through bot.logs and the captured output is scanned for every name, email, message and token."""

from __future__ import annotations

import io
import logging
import sys
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from bot.config import Settings
from bot.logs import configure_logging
from handlers.messages import Attachment
from handlers.storage.models import Participant, PeerSession
from tests.conftest import AMIRA, GARETH, JAMES, PRIYA, FrontDoor, local

FAKE_ENV = {
    "SLACK_BOT_TOKEN": "xoxb-fake-4242-bot-token",
    "SLACK_APP_TOKEN": "xapp-fake-4242-app-token",
    "SLACK_SIGNING_SECRET": "fake-signing-secret-4242",
    "TELEGRAM_BOT_TOKEN": "424242:FAKE-telegram-token",
    "TELEGRAM_WEBHOOK_SECRET": "fake-webhook-secret-4242",
}
SAID = [  # what the participants type; none of it may reach the logs
    "/ask will my expenses for the Leeds hotel be paid",
    "What colour is the moon cheese at the zeppelin hangar?",
    "/book 10 April 2pm 3h face to face at Pendleton Lodge meeting room",
    "/claim 8 July £95",
    "Receipt for my stay at the Grand Marmalade Inn",
    "/answer 1 Moon cheese is a private matter for the zeppelin crew",
]


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    """Logging configured as the bot does it, at DEBUG, into a string."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)  # configure_logging writes to sys.stderr
    configure_logging("DEBUG", Settings.from_env(FAKE_ENV).secrets())
    yield stream
    root.handlers[:], level = saved
    root.setLevel(level)


def scenario(door: FrontDoor, services) -> None:
    """Link, FAQ question, booking, claim with a receipt, unanswered question, an answer."""
    for who in (AMIRA, JAMES, GARETH, PRIYA):
        door.text(who, "/whoami")
    door.text(PRIYA, SAID[0])
    door.text(PRIYA, SAID[1])
    door.press(PRIYA, "Ask the programme team")
    door.text(AMIRA, SAID[2])
    door.text(AMIRA, "yes")
    with services.uow() as db:
        session_id = db.scalars(select(PeerSession.id)).one()
    door.router.handle(door.incoming(JAMES, action_id="booking.accept",
                                     action_value=str(session_id)))
    services.clock.set(local(2015, 7, 9))  # accommodation is claimed after the stay
    door.text(AMIRA, SAID[3])
    receipt = SAID[4].encode()
    door.send(AMIRA, "", attachment=Attachment("marmalade-inn.pdf", "application/pdf",
                                               len(receipt), lambda: receipt))
    assert "Submitted" in door.text(AMIRA, "yes")
    assert "Answer #1 (to question #1) is sent" in door.text(GARETH, SAID[5])
    door.text(AMIRA, "/mydata")
    door.text(AMIRA, "this is not a command \x00\x01 but free text")
    door.send(AMIRA, "x" * 5000)  # refused input is logged by reason only


def test_logs_hold_no_names_emails_messages_or_secrets(door: FrontDoor, services,
                                                       captured: io.StringIO):
    logging.getLogger("sps.test").debug("configured token %s", FAKE_ENV["SLACK_BOT_TOKEN"])
    scenario(door, services)
    logs = captured.getvalue()
    assert '"event": "handled"' in logs and "handler failed" not in logs  # it did log
    with services.uow() as db:
        people = db.scalars(select(Participant)).all()
        forbidden = [p.name for p in people] + [p.email for p in people]
    forbidden += SAID + ["marmalade-inn.pdf", "Pendleton Lodge"] + list(FAKE_ENV.values())
    leaks = [text for text in forbidden if text.lower() in logs.lower()]
    assert leaks == [], f"personal data or secrets in the logs: {leaks}"
    assert "**********" in logs  # the deliberate token line was scrubbed, not dropped
