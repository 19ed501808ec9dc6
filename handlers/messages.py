"""Platform-neutral messages: what every adapter turns its platform's events into, and back."""

from __future__ import annotations

import base64
import csv
import io
import textwrap
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any


def csv_file(rows: Iterable[Sequence[object]]) -> bytes:
    """A CSV file for a spreadsheet. A text cell that starts like a formula ("=HYPERLINK(...",
    "+44...", "@SUM") is prefixed with an apostrophe, so what a participant typed (a claim's
    reason, a name) is shown, never run, when finance opens the file. UTF-8 with a byte-order
    mark: without it Excel guesses another encoding and shows "£" as "Â£"."""
    out = io.StringIO()
    writer = csv.writer(out)
    for row in rows:
        writer.writerow([f"'{cell}" if isinstance(cell, str) and cell[:1] in _FORMULA_START
                         else cell for cell in row])
    return out.getvalue().encode("utf-8-sig")


_FORMULA_START = frozenset("=+-@\t\r")


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """ "1 member", "3 members", "1 person", "2 people": a count with its noun in the right
    number."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"


@dataclass(frozen=True)
class Attachment:
    """A file the user sent. Bytes are fetched only when a handler needs them."""

    name: str
    content_type: str
    size: int
    fetch: Callable[[], bytes]


@dataclass(frozen=True)
class Incoming:
    platform: str  # "console", "slack", "telegram"
    account_id: str  # the platform's user id
    chat_id: str  # where the conversation happens (a DM, a channel, a group)
    private: bool  # a one-to-one chat, fit for personal data
    text: str = ""
    action_id: str | None = None  # a pressed button: its action and value
    action_value: str = ""
    attachment: Attachment | None = None
    verified_email: str | None = None  # only where the platform vouches for it (Slack)
    event_id: str | None = None  # the platform's id for this delivery, to ignore repeats


BUTTON_LABEL = 60  # characters: a phone shows about this much of a button


def button_label(text: str) -> str:
    """Text cut to a button's length at a word, with an ellipsis when cut."""
    return textwrap.shorten(text, BUTTON_LABEL, placeholder="\u2026")


@dataclass(frozen=True)
class Choice:
    label: str
    action_id: str
    value: str = ""


CANCEL = Choice("Cancel", "cancel")  # stops the open form; the router handles it


@dataclass(frozen=True)
class ReplyFile:
    name: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class Reply:
    """Text with light markup (*bold*, bullet lines starting `- `) each adapter renders."""

    text: str
    choices: tuple[Choice, ...] = ()
    file: ReplyFile | None = None
    # Holds personal data: an adapter delivers it to the person's private chat, never into a
    # shared one (the router marks every reply to a personal command asked in a group).
    private_only: bool = field(default=False)


def reply_to_json(reply: Reply) -> dict[str, Any]:
    """A reply as plain JSON, to be kept until it is sent."""
    file = reply.file
    return {"text": reply.text, "private_only": reply.private_only,
            "choices": [[c.label, c.action_id, c.value] for c in reply.choices],
            "file": None if file is None else [file.name, file.content_type,
                                               base64.b64encode(file.data).decode()]}


def reply_from_json(data: dict[str, Any]) -> Reply:
    file = data["file"]
    return Reply(data["text"], choices=tuple(Choice(*c) for c in data["choices"]),
                 private_only=data["private_only"],
                 file=None if file is None else ReplyFile(file[0], file[1],
                                                          base64.b64decode(file[2])))
