"""Platform-neutral messages: what every adapter turns its platform's events into, and back."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


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
    display_name: str = ""
    event_id: str | None = None  # the platform's id for this delivery, to ignore repeats


@dataclass(frozen=True)
class Choice:
    label: str
    action_id: str
    value: str = ""


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
    private_only: bool = field(default=False)  # holds personal data: never into a shared chat
