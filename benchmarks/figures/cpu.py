"""Server CPU per completed login: ours against django-allauth's login by code and
django-sesame's magic link, on the same server."""

from __future__ import annotations

import statistics
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
    """Interleaved rounds: each round runs every flow's share of the logins, in an order
    rotated from round to round, so that whatever else the machine does at one moment
    falls on all three flows alike rather than on one."""
    server, mail_dir = ctx.server, ctx.mail_dir
    rounds = 2 if quick else 6
    per_round = 6 if quick else 20
    flows = [
        (OURS, lambda i: whatsapp_login(server.url, i, poll_interval=0.0)),
        (ALLAUTH, lambda i: allauth_login(server.url, i, mail_dir)),
        (SESAME, lambda i: sesame_login(server.url, i, mail_dir)),
    ]
    for _name, flow in flows:
        flow(USERS)  # warm up every worker path once
    totals = {
        name: {"cpu": 0.0, "wall": 0.0, "n": 0, "failed": 0, "rounds": []} for name, _ in flows
    }
    for number in range(rounds):
        order = flows[number % len(flows) :] + flows[: number % len(flows)]
        for name, flow in order:
            total = totals[name]
            users = [1 + ((total["n"] + i) % (USERS - 100)) for i in range(per_round)]
            cpu0 = server.cpu_seconds()
            start = time.perf_counter()
            with ThreadPoolExecutor(4) as pool:
                results = list(pool.map(flow, users))
            total["wall"] += time.perf_counter() - start
            cpu = server.cpu_seconds() - cpu0
            total["cpu"] += cpu
            total["n"] += per_round
            total["failed"] += sum(1 for r in results if not r["ok"])
            total["rounds"].append(1000 * cpu / per_round)
    rows = []
    for name, _flow in flows:
        total = totals[name]
        cpu_ms = 1000 * total["cpu"] / total["n"]
        rows.append(
            {
                "flow": name,
                "n": total["n"],
                "cpu_ms": cpu_ms,
                "wall_s": total["wall"],
                "failed": total["failed"],
                "rounds_ms": total["rounds"],
            }
        )
        print(f"  {name}: {cpu_ms:.1f} ms CPU per login, {total['failed']} failed", flush=True)
    base = rows[1]["cpu_ms"]
    allauth_rounds = rows[1]["rounds_ms"]
    for row in rows:
        row["ratio"] = row["cpu_ms"] / base
        per_round_ratios = sorted(
            ours / theirs for ours, theirs in zip(row["rounds_ms"], allauth_rounds, strict=True)
        )
        row["round_ratios"] = [round(r, 3) for r in per_round_ratios]
        row["round_ratio_median"] = statistics.median(per_round_ratios)
    return rows


def _at_most(data: list[dict[str, Any]]) -> tuple[str, bool]:
    ours = next(r for r in data if r["flow"] == OURS)
    return f"{ours['ratio']:.2f}x", ours["ratio"] <= 0.8 and ours["failed"] == 0


TARGETS = [
    Target(
        "server CPU per completed login <= 0.8x django-allauth's login by code in the same run",
        _at_most,
    )
]


def render(data: list[dict[str, Any]], results: dict[str, Any]) -> list[str]:
    out = [
        "Flows 4 at a time, each ending on the logged-in page; CPU is user + system time of the "
        "gunicorn processes divided by the logins. The flows take turns in interleaved rounds "
        "(the order rotated each round), so that the machine's other work falls on all of "
        "them; the ratio is of the totals, the last column the median of the per-round ratios.",
        "",
        "| flow | logins | CPU per login | ratio to allauth | per-round ratio (median) | failed |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    out += [
        f"| {r['flow']} | {r['n']} | {r['cpu_ms']:.1f} ms | {r['ratio']:.2f}x | "
        f"{r.get('round_ratio_median', r['ratio']):.2f}x | {r['failed']} |"
        for r in data
    ]
    return out
