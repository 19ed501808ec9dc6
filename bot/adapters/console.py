"""The console chat: stdin/stdout. Choices are numbered and answered by their number.

Whoever runs the console is at the bot's own machine, so `--as EMAIL` is trusted the way a
platform's verified email is. Without it, the console user is an unlinked guest.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from handlers.messages import Choice, Incoming, Reply
from handlers.ports import Address

Handle = Callable[[Incoming], list[Reply]]


class ConsoleChat:
    def __init__(self, handle: Handle, out: TextIO, as_email: str | None = None,
                 files_folder: Path = Path("sps-bot-files")) -> None:
        self.handle = handle
        self.out = out
        self.email = as_email.lower() if as_email else None
        self.account = f"console:{self.email or 'guest'}"
        self.files_folder = files_folder
        self._choices: list[Choice] = []

    def say(self, line: str) -> list[Reply]:
        """Send one line as the console user and print the replies."""
        msg = self._incoming(line)
        replies = self.handle(msg)
        self._choices = []
        for reply in replies:
            self.show(reply)
        return replies


    def _incoming(self, line: str) -> Incoming:
        stripped = line.strip()
        if stripped.isdigit() and 1 <= int(stripped) <= len(self._choices):
            choice = self._choices[int(stripped) - 1]
            return Incoming("console", self.account, self.account, True,
                            action_id=choice.action_id, action_value=choice.value,
                            verified_email=self.email)
        return Incoming("console", self.account, self.account, True, text=line,
                        verified_email=self.email)

    def show(self, reply: Reply, prefix: str = "") -> None:
        print(prefix + reply.text, file=self.out)
        for choice in reply.choices:
            self._choices.append(choice)
            print(f"  [{len(self._choices)}] {choice.label}", file=self.out)
        if reply.file is not None:
            self.files_folder.mkdir(parents=True, exist_ok=True)
            target = self.files_folder / Path(reply.file.name).name
            target.write_bytes(reply.file.data)
            print(f"  (file {reply.file.name}, {len(reply.file.data):,} bytes, saved to "
                  f"{target})", file=self.out)
        print(file=self.out)


class ConsoleSender:
    """Delivers outbox messages addressed to the console user into their chat."""

    platform = "console"

    def __init__(self, chat: ConsoleChat) -> None:
        self.chat = chat

    def send(self, address: Address, reply: Reply) -> None:
        self.chat.show(reply, prefix="(message) ")
