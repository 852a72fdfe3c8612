"""The server-side latency the YES/NO confirmation adds to a login (issue 10, part B).

In process, on the benchmark database, with the fake Green API (tests/fake_greenapi.py)
answering ``sendMessage`` over real HTTP on 127.0.0.1. For each login, interleaved:

- baseline, ``WHATSAPP_LOGIN_CONFIRM = "never"``: the webhook of the login message, which
  confirms the attempt;
- asked, ``"always"``: the webhook of the login message (the attempt waits, the question is
  sent after commit, inside the same request), then the webhook of the user's ``YES``, which
  confirms it.

Both webhooks are timed from the POST to the answer, on-commit work (the question, the
login notice) included. The time a person needs to read the question and answer is not a
server cost and is not in these numbers: it dominates the real delay by far.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from benchmarks.harness import TOKEN
from benchmarks.harness.payloads import WEBHOOK_PATH, incoming, phone_of
from benchmarks.harness.report import Target

NAME = "confirmation"
TITLE = "The confirmation step: server time it adds to a login"
ORDER = 15
REQUIRES = frozenset({"postgres"})


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run(ctx: Any, quick: bool) -> dict[str, Any]:
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client, override_settings
    from django.test.utils import CaptureQueriesContext
    from tests.fake_greenapi import FakeGreenAPI

    logins = 10 if quick else 120
    fake = FakeGreenAPI(id_instance="1101000001").start()
    auth = {"HTTP_AUTHORIZATION": f"Bearer {TOKEN}"}
    webhook = Client()
    baseline: list[float] = []
    asked: list[float] = []
    statements: dict[str, int] = {}
    sends_before = 0

    def post(body: bytes, expected: str, label: str | None = None) -> float:
        started = time.perf_counter()
        with CaptureQueriesContext(connection) as captured:
            response = webhook.post(
                WEBHOOK_PATH, data=body, content_type="application/json", **auth
            )
        elapsed = time.perf_counter() - started
        if response.status_code != 200 or response.json().get("status") != expected:
            raise AssertionError(f"{label or expected}: {response.content[:200]!r}")
        if label is not None:
            statements[label] = sum(
                1
                for q in captured.captured_queries
                if not q["sql"].startswith(("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE"))
            )
        return elapsed

    users = get_user_model()._default_manager
    try:
        with override_settings(
            WHATSAPP_LOGIN_GREEN_API_TOKEN=fake.token,
            WHATSAPP_LOGIN_GREEN_API_URL=fake.url,
            WHATSAPP_LOGIN_LOGIN_NOTICE=True,
        ):
            # Round 0 warms up (ua-parser compiles its rules on the first notice) and is
            # not counted.
            for i in range(logins + 1):
                # Different users each round, so the per-number confirm limit never bites.
                phone = phone_of(1000 + i)
                if not users.filter(phone=phone).exists():
                    users.create_user(username=f"confirm{i}", phone=phone)
                with override_settings(WHATSAPP_LOGIN_CONFIRM="never"):
                    message = Client().post("/whatsapp/start/").json()["message"]
                    baseline.append(post(incoming(message, phone), "confirmed"))
                with override_settings(WHATSAPP_LOGIN_CONFIRM="always"):
                    message = Client().post("/whatsapp/start/").json()["message"]
                    sends_before = len(fake.sent)
                    first = i == 0
                    ask_time = post(
                        incoming(message, phone),
                        "awaiting_confirmation",
                        "webhook that asks (login message)" if first else None,
                    )
                    if len(fake.sent) != sends_before + 1:
                        raise AssertionError("the question was not sent")
                    yes_time = post(
                        incoming("YES", phone),
                        "confirmed",
                        "webhook of the YES" if first else None,
                    )
                    if i > 0:
                        asked.append(ask_time + yes_time)
                    else:
                        baseline.pop()
    finally:
        fake.stop()
    base_median = statistics.median(baseline)
    asked_median = statistics.median(asked)
    data = {
        "logins": logins,
        "baseline_median": base_median,
        "baseline_p95": _quantile(baseline, 0.95),
        "asked_median": asked_median,
        "asked_p95": _quantile(asked, 0.95),
        "added_median": asked_median - base_median,
        "ratio": asked_median / base_median,
        "statements": statements,
    }
    print(
        f"  baseline {base_median * 1000:.1f} ms, with the question {asked_median * 1000:.1f} ms "
        f"(+{data['added_median'] * 1000:.1f} ms, {data['ratio']:.2f}x)"
    )
    return data


def render(data: dict[str, Any], results: dict[str, Any]) -> list[str]:
    ms = 1000
    out = [
        f"{data['logins']} logins of each kind, interleaved, in process on PostgreSQL; the fake "
        "Green API answers `sendMessage` over HTTP on 127.0.0.1 (a real Green API call adds its "
        "network round trip, typically 100-300 ms, to the webhook that asks). The time a person "
        "takes to read the question and answer YES is not included.",
        "",
        "| | median | p95 |",
        "|---|---:|---:|",
        f'| login message confirms (`CONFIRM = "never"`) | {data["baseline_median"] * ms:.1f} ms '
        f"| {data['baseline_p95'] * ms:.1f} ms |",
        f'| login message asks + the YES confirms (`"always"`) | {data["asked_median"] * ms:.1f}'
        f" ms | {data['asked_p95'] * ms:.1f} ms |",
        f"| added by the confirmation step | {data['added_median'] * ms:.1f} ms "
        f"({data['ratio']:.2f}x) | |",
        "",
    ]
    for label, count in data["statements"].items():
        out.append(f"- {label}: {count} data statements")
    return out


TARGETS = [
    Target(
        "server time added by the question and its YES <= 50 ms (median)",
        lambda data: (f"{data['added_median'] * 1000:.1f} ms", data["added_median"] <= 0.05),
    ),
]
