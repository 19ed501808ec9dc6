"""Slack events over real HTTP: acknowledgement latency, throughput, and exactly-once handling.

    .venv/bin/python -m bench.slack [--requests 1000] [--clients 8]

Uvicorn serves the real web route on 127.0.0.1; bolt answers a fake Slack Web API; the router
uses a temporary SQLite database with the demo cohort. One request in twenty is a Slack retry
(same event id, X-Slack-Retry-Num) that must be acknowledged and not answered again.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from slack_sdk.signature import SignatureVerifier
from starlette.applications import Starlette

from bot.adapters import slack
from bot.app import App
from bot.config import Settings
from handlers.app import build_router
from handlers.identity import import_participants
from handlers.ports import SystemClock
from handlers.services import Services
from handlers.storage.db import UnitOfWork, make_engine, upgrade
from knowledge.base import KnowledgeBase
from knowledge.programme import load_programme
from tests.fakes.slack_api import FakeSlack, LocalAsgiServer, dm_for

SECRET = "bench-signing-secret"
DEMO_CSV = Path(__file__).resolve().parents[1] / "knowledge" / "demo" / "cohort.csv"
FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "slack" / \
    "event_message_im.json"
USERS = 50
QUESTIONS = ["Will expenses be paid?", "when is the next development day?",
             "how long is a peer support session?", "what is the wifi password"]


def build(fake: FakeSlack, folder: Path) -> App:
    url = f"sqlite:///{folder / 'bench.db'}"
    engine = make_engine(url)
    upgrade(engine)
    uow = UnitOfWork(engine)
    with uow() as db:
        import_participants(db, DEMO_CSV.read_text(), SystemClock().now())
    settings = Settings.from_env({"SLACK_BOT_TOKEN": "xoxb-bench", "SLACK_SIGNING_SECRET":
                                  SECRET, "SLACK_API_URL": fake.api_url, "DATABASE_URL": url})
    services = Services(programme=load_programme(), load_knowledge=KnowledgeBase.load,
                        clock=SystemClock(), uow=uow)
    return App(settings, engine, services, build_router(services))


def requests_to_send(total: int) -> list[tuple[bytes, dict[str, str], str]]:
    """(body, extra headers, user) per request; every 20th repeats an earlier event."""
    template = json.loads(FIXTURE.read_text())
    sent: list[tuple[bytes, dict[str, str], str]] = []
    for n in range(total):
        if n % 20 == 19:
            body, _, user = sent[n - 10]
            sent.append((body, {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason":
                                "http_timeout"}, user))
            continue
        user = f"U0BENCH{n % USERS:03d}"
        event = dict(template["event"], user=user, channel=dm_for(user),
                     text=QUESTIONS[n % len(QUESTIONS)], ts=f"1425290400.{n:06d}")
        body = dict(template, event=event, event_id=f"Ev0BENCH{n:06d}")
        sent.append((json.dumps(body).encode(), {}, user))
    return sent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()

    with FakeSlack() as fake, tempfile.TemporaryDirectory() as folder:
        for n in range(USERS):
            user = f"U0BENCH{n:03d}"
            fake.add_user(user, f"bench{n}@example.org", f"Bench User {n}")
        app = build(fake, Path(folder))
        web = Starlette(routes=slack.web_routes(app))
        warm_up, *work = requests_to_send(args.requests + 1)
        latencies: list[float] = []
        statuses: Counter[int] = Counter()
        lock = threading.Lock()
        signer = SignatureVerifier(SECRET)
        local = threading.local()

        def send(item: tuple[bytes, dict[str, str], str]) -> None:
            body, extra, _user = item
            if not hasattr(local, "client"):
                local.client = httpx.Client(timeout=30)
            stamp = str(int(time.time()))
            headers = {"Content-Type": "application/json", "X-Slack-Request-Timestamp": stamp,
                       "X-Slack-Signature": signer.generate_signature(
                           timestamp=stamp, body=body.decode()), **extra}
            started = time.perf_counter()
            response = local.client.post(server.url + "/slack/events", content=body,
                                         headers=headers)
            took = time.perf_counter() - started
            with lock:
                latencies.append(took)
                statuses[response.status_code] += 1

        with LocalAsgiServer(web) as server:
            send(warm_up)  # outside the figures: auth.test, first imports, first lookups
            latencies.clear()
            statuses.clear()
            started = time.perf_counter()
            with ThreadPoolExecutor(args.clients) as clients:
                list(clients.map(send, work))
            elapsed = time.perf_counter() - started
            unique = {body: user for body, _, user in [warm_up, *work]}
            fake.wait_for("chat.postMessage", len(unique), timeout=120)
            time.sleep(0.5)  # let any duplicate reply arrive before counting
            handled = time.perf_counter() - started

        posts = Counter(call.args["channel"] for call in fake.calls_to("chat.postMessage"))
        expected = Counter(dm_for(user) for user in unique.values())
        latencies.sort()
        p99 = latencies[int(len(latencies) * 0.99) - 1] * 1000
        print(f"requests: {len(latencies)} ({len(work) + 1 - len(unique)} Slack retries), "
              f"HTTP statuses: {dict(statuses)}")
        print(f"throughput: {len(latencies) / elapsed:,.0f} requests/s "
              f"({args.clients} concurrent clients)")
        print(f"time to acknowledge: median {statistics.median(latencies) * 1000:.1f} ms, "
              f"p99 {p99:.1f} ms, max {latencies[-1] * 1000:.1f} ms (target p99 < 100 ms)")
        print(f"all {len(unique)} events (warm-up included) answered {handled:.1f} s after "
              "the first request")
        exactly_once = posts == expected
        print(f"exactly once: {'yes' if exactly_once else 'NO'} "
              f"({sum(posts.values())} replies for {len(unique)} distinct events)")
        return 0 if exactly_once and p99 < 100 and set(statuses) == {200} else 1


if __name__ == "__main__":
    raise SystemExit(main())
