"""Complete logins by many concurrent clients: none lost, none as the wrong user."""

from __future__ import annotations

import random
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from benchmarks.harness import WORKERS
from benchmarks.harness.clients import whatsapp_login
from benchmarks.harness.report import Target

NAME = "load"
TITLE = "Load run (PostgreSQL, several workers)"
ORDER = 50
REQUIRES = frozenset({"postgres"})
CLIENTS = 24


def run(ctx: Any, quick: bool) -> dict[str, Any]:
    server = ctx.server
    logins = 30 if quick else 240
    cpu0 = server.cpu_seconds()
    start = time.perf_counter()
    errors: list[str] = []
    results: list[dict[str, Any]] = []
    lock = threading.Lock()

    def one(i: int) -> None:
        try:
            r = whatsapp_login(
                server.url, i, poll_interval=1.0, send_after=0.3 + random.random() * 1.5
            )
            with lock:
                results.append(r)
        except Exception as err:
            with lock:
                errors.append(repr(err)[:200])

    with ThreadPoolExecutor(CLIENTS) as pool:
        list(pool.map(one, range(1, logins + 1)))
    elapsed = time.perf_counter() - start
    cpu = server.cpu_seconds() - cpu0
    ok = [r for r in results if r["ok"] and r["rotated"]]
    wrong = [r for r in results if not r["ok"]]
    seen = sorted(r["seen_after"] for r in results if r["seen_after"] is not None)
    data = {
        "logins": logins,
        "clients": CLIENTS,
        "workers": WORKERS,
        "completed": len(ok),
        "errors": len(errors),
        "wrong_user": len(wrong),
        "wall_s": elapsed,
        "logins_per_s": len(ok) / elapsed,
        "cpu_ms_per_login": 1000 * cpu / max(len(ok), 1),
        "polls_per_login": statistics.mean(r["polls"] for r in results) if results else 0,
        "seen_p50": statistics.median(seen) if seen else None,
        "seen_p95": seen[max(0, int(0.95 * len(seen)) - 1)] if seen else None,
        "error_samples": errors[:3],
    }
    print(f"  {data}", flush=True)
    return data


def _clean(data: dict[str, Any]) -> tuple[str, bool]:
    ok = data["completed"] == data["logins"] and data["errors"] == 0 and data["wrong_user"] == 0
    return (
        f"{data['completed']}/{data['logins']} logins, {data['errors']} errors, "
        f"{data['wrong_user']} as the wrong user",
        ok,
    )


TARGETS = [Target("load run: every login completes, as the right user", _clean)]


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f} s"


def render(data: dict[str, Any], results: dict[str, Any]) -> list[str]:
    out = [
        f"{data['logins']} complete logins (page, WhatsApp webhook at a random moment, polls "
        f"every second, complete, logged-in page) by {data['clients']} concurrent clients "
        f"through {data['workers']} gunicorn workers, each user logging in once.",
        "",
        "| completed | errors | wrong user | wall time | logins/s | polls per login | "
        "server CPU per login | webhook to confirmed seen p50 / p95 |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| {data['completed']} | {data['errors']} | {data['wrong_user']} | "
        f"{data['wall_s']:.1f} s | {data['logins_per_s']:.1f} | "
        f"{data['polls_per_login']:.2f} | {data['cpu_ms_per_login']:.1f} ms | "
        f"{_s(data['seen_p50'])} / {_s(data['seen_p95'])} |",
    ]
    if data["error_samples"]:
        out += ["", "First errors: " + "; ".join(f"`{e}`" for e in data["error_samples"])]
    return out
