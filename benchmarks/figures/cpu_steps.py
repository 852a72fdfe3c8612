"""Where the CPU of one login goes: each request of our flow and of django-allauth's login
by code, in process, with its data statements. No target: it explains the ``cpu`` figure."""

from __future__ import annotations

import re
import statistics
import time
from pathlib import Path
from typing import Any

from benchmarks.harness import TOKEN, USERS
from benchmarks.harness.payloads import WEBHOOK_PATH, incoming, phone_of

NAME = "cpu_steps"
TITLE = "Where the CPU of one login goes (in process, per request)"
ORDER = 41
REQUIRES = frozenset({"postgres"})

OURS = "django-whatsapp-login"
ALLAUTH = "django-allauth login by code"
MESSAGE = re.compile(r"data-wl-message>([^<]+)<")
CODE = re.compile(r"[A-Z0-9-]{4,12}")
CONTROL = re.compile(r"^(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE SAVEPOINT)\b")


def run(ctx: Any, quick: bool) -> list[dict[str, Any]]:
    from django.db import connection
    from django.test import Client, override_settings
    from django.test.utils import CaptureQueriesContext

    logins = 10 if quick else 120
    steps: dict[tuple[str, int, str], list[tuple[float, int]]] = {}
    mail_dir = Path(ctx.mail_dir)

    def step(flow: str, number: int, name: str, request: Any, expect: int) -> Any:
        with CaptureQueriesContext(connection) as captured:
            started = time.process_time()
            response = request()
            cpu = time.process_time() - started
        if response.status_code != expect:
            raise AssertionError(f"{flow}, {name}: HTTP {response.status_code}")
        data = sum(1 for q in captured.captured_queries if not CONTROL.match(q["sql"]))
        steps.setdefault((flow, number, name), []).append((1000 * cpu, data))
        return response

    webhook = Client()
    auth = {"HTTP_AUTHORIZATION": f"Bearer {TOKEN}"}

    def ours(user: int) -> None:
        browser = Client()
        page = step(OURS, 1, "login page (GET /login)", lambda: browser.get("/login"), 200)
        found = MESSAGE.search(page.content.decode())
        if found is None:
            raise AssertionError("login page: no data-wl-message")
        body = incoming(found.group(1).strip(), phone_of(user))
        step(
            OURS,
            2,
            "webhook of the login message",
            lambda: webhook.post(WEBHOOK_PATH, data=body, content_type="application/json", **auth),
            200,
        )
        poll = step(
            OURS,
            3,
            "status poll (confirmed)",
            lambda: browser.get("/whatsapp/status/", HTTP_ACCEPT="application/json"),
            200,
        )
        if poll.json()["status"] != "confirmed":
            raise AssertionError(f"status poll: {poll.content[:200]!r}")
        token = browser.cookies["csrftoken"].value
        done = step(
            OURS,
            4,
            "complete (POST)",
            lambda: browser.post(
                "/whatsapp/complete/", HTTP_ACCEPT="application/json", HTTP_X_CSRFTOKEN=token
            ),
            200,
        )
        home = step(OURS, 5, "logged-in page", lambda: browser.get(done.json()["redirect"]), 200)
        if home.content != f"Hello u{user}".encode():
            raise AssertionError(f"home: {home.content[:60]!r}")

    def allauth(user: int) -> None:
        browser = Client()
        email = f"u{user}@example.com"
        inbox = mail_dir / f"{email}.txt"
        inbox.unlink(missing_ok=True)
        step(ALLAUTH, 1, "code form (GET)", lambda: browser.get("/accounts/login/code/"), 200)
        sent = step(
            ALLAUTH,
            2,
            "email POST (code sent)",
            lambda: browser.post("/accounts/login/code/", {"email": email}),
            302,
        )
        step(ALLAUTH, 3, "code entry form (GET)", lambda: browser.get(sent["Location"]), 200)
        code = next(
            line.strip() for line in inbox.read_text().splitlines() if CODE.fullmatch(line.strip())
        )
        confirmed = step(
            ALLAUTH,
            4,
            "code POST (login)",
            lambda: browser.post("/accounts/login/code/confirm/", {"code": code}),
            302,
        )
        home = step(ALLAUTH, 5, "logged-in page", lambda: browser.get(confirmed["Location"]), 200)
        if home.content != f"Hello u{user}".encode():
            raise AssertionError(f"allauth home: {home.content[:60]!r}")

    with override_settings(BENCH_MAIL_DIR=str(mail_dir)):
        for i in range(5):  # warm up both paths (templates, ua-parser, connections)
            ours(USERS - i)
            allauth(USERS - i)
        steps.clear()
        for i in range(logins):
            user = 1 + i % (USERS - 100)
            if i % 2:
                allauth(user)
                ours(user)
            else:
                ours(user)
                allauth(user)
    rows = []
    for (flow, number, name), values in sorted(steps.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        rows.append(
            {
                "flow": flow,
                "step": number,
                "name": name,
                "cpu_ms": statistics.mean(v[0] for v in values),
                "cpu_p50_ms": statistics.median(v[0] for v in values),
                "statements": statistics.median(v[1] for v in values),
                "n": len(values),
            }
        )
    for flow in (OURS, ALLAUTH):
        total = sum(r["cpu_ms"] for r in rows if r["flow"] == flow)
        print(f"  {flow}: {total:.1f} ms CPU per login in process", flush=True)
    return rows


def render(data: list[dict[str, Any]], results: dict[str, Any]) -> list[str]:
    out = [
        "Each request of one login timed with the process's CPU clock in this process "
        "(Django's test client, the same middleware and PostgreSQL database, database "
        "sessions; the test client's own work is in every row alike), the two flows "
        "alternating login by login. Data statements as in the queries figure.",
        "",
        "| flow | request | CPU mean | CPU median | data statements |",
        "|---|---|---:|---:|---:|",
    ]
    totals: dict[str, list[float]] = {}
    for r in data:
        out.append(
            f"| {r['flow']} | {r['step']}. {r['name']} | {r['cpu_ms']:.2f} ms | "
            f"{r['cpu_p50_ms']:.2f} ms | {r['statements']:.0f} |"
        )
        total = totals.setdefault(r["flow"], [0.0, 0.0])
        total[0] += r["cpu_ms"]
        total[1] += r["statements"]
    for flow, (cpu, statements) in totals.items():
        out.append(f"| {flow} | **whole login** | **{cpu:.2f} ms** | | **{statements:.0f}** |")
    if OURS in totals and ALLAUTH in totals:
        ratio = totals[OURS][0] / totals[ALLAUTH][0]
        out += [
            "",
            f"In process our login costs {ratio:.2f}x allauth's CPU, with "
            f"{totals[OURS][1]:.0f} data statements against {totals[ALLAUTH][1]:.0f}.",
        ]
    return out
