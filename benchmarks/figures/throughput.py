"""Requests per second of the hot endpoints against bare Django views, on the same server."""

from __future__ import annotations

from typing import Any

from benchmarks.harness import TOKEN, USERS
from benchmarks.harness.clients import compare, session_cookie, throughput, throughput_table
from benchmarks.harness.payloads import IGNORED_EVENT, WEBHOOK_PATH, incoming, phone_of
from benchmarks.harness.report import Target

NAME = "throughput"
TITLE = "Throughput (req/s, median of interleaved rounds)"
ORDER = 20
REQUIRES = frozenset({"postgres"})

IGNORED = "webhook: ignored event (POST)"
CONFIRMS = "webhook: login message (confirms)"
PAGE = "login page, first visit (GET /login)"
STATUS = "status poll (GET /whatsapp/status/)"
CLIENTS = 4


def measure(
    server: Any, quick: bool, names: tuple[str, ...], status_target: float | None = None
) -> list[dict[str, Any]]:
    """The rows ``names`` (of IGNORED, CONFIRMS, PAGE, STATUS) measured on ``server``;
    ``status_target`` is the status poll's target ratio (the Redis figure's only)."""
    from django.db import connections

    from benchmarks.harness.site import confirmed_count, make_attempts

    duration = 1.0 if quick else 4.0
    rounds = 1 if quick else 3
    auth = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    json_headers = {"Content-Type": "application/json"}
    per_run = int(600 * duration)
    codes = make_attempts(per_run * rounds) if CONFIRMS in names else []
    connections.close_all()  # before forking the clients
    cookies: list[dict[str, str]] = []  # made just before the status rows (attempts expire)

    def sessions() -> list[dict[str, str]]:
        if not cookies:
            cookies.extend({"Cookie": session_cookie(server)} for _ in range(CLIENTS))
        return cookies

    batches = iter(codes[i : i + per_run] for i in range(0, len(codes), per_run))

    def run(method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        return throughput(server, method, path, clients=CLIENTS, duration=duration, **kwargs)

    def bare_post() -> dict[str, Any]:
        return run("POST", "/bench/bare/", headers=json_headers, bodies=[IGNORED_EVENT] * 100000)

    def confirms() -> dict[str, Any]:
        batch = next(batches)
        bodies = [
            incoming(f"AMT LOGIN {code}", phone_of(i % USERS + 1)) for i, code in enumerate(batch)
        ]
        result = run("POST", WEBHOOK_PATH, headers=auth, bodies=bodies, expect="confirmed")
        stored = confirmed_count(batch)
        connections.close_all()
        if stored < result["n"]:
            raise AssertionError(
                f"{result['n']} webhook answers said confirmed, the database holds {stored}"
            )
        return result

    pairs = {
        IGNORED: (
            lambda: run(
                "POST",
                WEBHOOK_PATH,
                headers=auth,
                bodies=[IGNORED_EVENT] * 100000,
                expect="ignored",
            ),
            bare_post,
            "bare JSON view (POST)",
            0.8,
        ),
        CONFIRMS: (confirms, bare_post, "bare JSON view (POST)", None),
        PAGE: (
            lambda: run("GET", "/login"),
            lambda: run("GET", "/bench/bare/"),
            "bare JSON view (GET)",
            None,
        ),
        STATUS: (
            lambda: run(
                "GET", "/whatsapp/status/", per_client_headers=sessions(), expect="pending"
            ),
            lambda: run("GET", "/bench/session/", per_client_headers=sessions()),
            "bare view reading the session",
            status_target,
        ),
    }
    rows = []
    for name in names:
        subject, baseline, base_name, target = pairs[name]
        rows.append(compare(name, subject, baseline, base_name, rounds, target))
    return rows


def run(ctx: Any, quick: bool) -> list[dict[str, Any]]:
    return measure(ctx.server, quick, (IGNORED, CONFIRMS, PAGE, STATUS))


def ratio_at_least(name: str, floor: float) -> Any:
    def check(data: list[dict[str, Any]]) -> tuple[str, bool]:
        row = next(r for r in data if r["name"] == name)
        return f"{row['ratio']:.2f}x", row["ratio"] >= floor

    return check


# The status poll's target is issue 11's, "with Redis as the cache" (throughput_redis.py).
# With the local-memory cache the cached state is off by default (a per-process cache cannot
# see another worker's change, docs/settings.md), so the poll reads the attempt row: that
# row of the table is shown for comparison, not held to 0.85x.
TARGETS = [
    Target("ignored-event webhook >= 0.8x a bare view", ratio_at_least(IGNORED, 0.8)),
]


def reading(data: list[dict[str, Any]], results: dict[str, Any]) -> list[str]:
    """What the run's own numbers say about the rows with a target."""
    rows = {r["name"]: r for r in data}
    out = []
    queries = {r["operation"]: r["queries"] for r in results.get("queries", [])}
    st = rows.get(STATUS)
    if st:
        pending = queries.get("status poll, pending")
        cost = (
            f"it runs {pending} data statements per request in the queries figure above, the "
            "bare view 1 (the session)"
            if pending is not None
            else "the queries figure did not run"
        )
        out.append(
            f"- Status poll: {st['ratio']:.2f}x the bare view's rate at "
            f"{st['cpu_ratio']:.2f}x its server CPU per request; {cost}. With this "
            "local-memory cache the cached state is off (each worker has its own cache), so "
            "every poll also reads the attempt row; the target is the Redis figure below."
        )
    ig = rows.get(IGNORED)
    if ig:
        n = queries.get("webhook, ignored event (outgoingMessageStatus)")
        out.append(
            f"- Ignored event: {ig['ratio']:.2f}x the bare view at {ig['cpu_ratio']:.2f}x its "
            f"CPU per request"
            + (f", with {n} data statements" if n is not None else "")
            + "; the bare view neither checks the token nor parses the body."
        )
    return ["Read from this run:", "", *out] if out else []


def render(data: list[dict[str, Any]], results: dict[str, Any]) -> list[str]:
    return [
        "Only answers that say what the endpoint should say are counted: a webhook answer "
        'must carry `{"status": "confirmed"}` (and the database must hold at least as many '
        "confirmed attempts) or `ignored`, a status poll `pending`; anything else is an error.",
        "",
        *throughput_table(data),
        "",
        *reading(data, results),
    ]
