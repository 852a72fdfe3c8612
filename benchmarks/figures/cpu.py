"""Server CPU per completed login: ours against django-allauth's login by code and
django-sesame's magic link, on the same server."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from benchmarks.harness import USERS
from benchmarks.harness.clients import allauth_login, sesame_login, whatsapp_login
from benchmarks.harness.report import Target

NAME = "cpu"
TITLE = "Server CPU per completed login, against the peers"
ORDER = 40
REQUIRES = frozenset({"postgres"})

OURS = "django-whatsapp-login (page, webhook, 1 poll, complete, home)"
ALLAUTH = "django-allauth login by code (form, email, code form, confirm, home)"
SESAME = "django-sesame magic link (form, email, link, home)"


def run(ctx: Any, quick: bool) -> list[dict[str, Any]]:
    server, mail_dir = ctx.server, ctx.mail_dir
    n = 12 if quick else 120
    flows = [
        (OURS, lambda i: whatsapp_login(server.url, i, poll_interval=0.0)),
        (ALLAUTH, lambda i: allauth_login(server.url, i, mail_dir)),
        (SESAME, lambda i: sesame_login(server.url, i, mail_dir)),
    ]
    rows = []
    for name, flow in flows:
        flow(USERS)  # warm up every worker path once
        cpu0 = server.cpu_seconds()
        start = time.perf_counter()
        with ThreadPoolExecutor(4) as pool:
            results = list(pool.map(flow, [1 + (i % (USERS - 100)) for i in range(n)]))
        elapsed = time.perf_counter() - start
        cpu = server.cpu_seconds() - cpu0
        bad = [r for r in results if not r["ok"]]
        rows.append(
            {"flow": name, "n": n, "cpu_ms": 1000 * cpu / n, "wall_s": elapsed, "failed": len(bad)}
        )
        print(f"  {name}: {1000 * cpu / n:.1f} ms CPU per login, {len(bad)} failed", flush=True)
    base = rows[1]["cpu_ms"]
    for row in rows:
        row["ratio"] = row["cpu_ms"] / base
    return rows


def _no_worse(data: list[dict[str, Any]]) -> tuple[str, bool]:
    ours = next(r for r in data if r["flow"] == OURS)
    return f"{ours['ratio']:.2f}x", ours["ratio"] <= 1.0 and ours["failed"] == 0


TARGETS = [Target("server CPU per login no worse than allauth's login by code", _no_worse)]


def render(data: list[dict[str, Any]], results: dict[str, Any]) -> list[str]:
    out = [
        "Flows 4 at a time, each ending on the logged-in page; CPU is user + system time of the "
        "gunicorn processes divided by the logins.",
        "",
        "| flow | logins | CPU per login | ratio to allauth | failed |",
        "|---|---:|---:|---:|---:|",
    ]
    out += [
        f"| {r['flow']} | {r['n']} | {r['cpu_ms']:.1f} ms | {r['ratio']:.2f}x | {r['failed']} |"
        for r in data
    ]
    return out
