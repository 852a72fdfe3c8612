"""The push channel (server-sent events under uvicorn) next to polling: delivery to logged
in, in Chromium. One worker holding many waiting pages is the ``held`` figure."""

from __future__ import annotations

import re
import secrets
import statistics
from typing import Any

from benchmarks.harness.report import Target

NAME = "push"
TITLE = "Push over server-sent events (uvicorn), next to polling"
ORDER = 65
REQUIRES = frozenset({"postgres", "redis", "chromium"})

MESSAGE_RE = re.compile(rb"data-wl-message>([^<]+)<")


def run(ctx: Any, quick: bool) -> dict[str, Any]:
    prefix = "wl_bench_" + secrets.token_hex(4)
    shared = {"BENCH_REDIS_URL": ctx.redis_url, "BENCH_CACHE_PREFIX": prefix, "BENCH_LIVE": "redis"}
    two = ctx.start_asgi_server("push-2", workers=2, **shared)
    samples = 4 if quick else 40
    browser = sorted(ctx.child("browser", two.url, str(two.port), "600", str(samples)))
    return {
        "browser": {
            "n": len(browser),
            "p50": statistics.median(browser),
            "p95": browser[min(len(browser) - 1, round(0.95 * len(browser)) - 1)],
            "max": browser[-1],
        },
    }


# --- the page -------------------------------------------------------------------------


def _browser_p95(data: dict[str, Any]) -> tuple[str, bool]:
    p95 = data["browser"]["p95"]
    return f"{p95:.3f} s", p95 <= 0.25


TARGETS = [
    Target("push: delivery-to-logged-in p95 <= 250 ms (uvicorn, 2 workers, Redis)", _browser_p95),
]


def render(data: dict[str, Any], results: dict[str, Any]) -> list[str]:
    b = data["browser"]
    polling = next((r for r in results.get("browser", []) if r.get("default")), None)
    out = [
        "Push: the example flow under `uvicorn benchsite.asgi:application` with "
        '`WHATSAPP_LOGIN_LIVE = "redis"` and Redis as the cache; the webhooks go to a gunicorn '
        "server of the same site, which publishes each committed change on Redis.",
        "",
        "| transport | samples | p50 | p95 | max |",
        "|---|---:|---:|---:|---:|",
        f"| server-sent events (2 uvicorn workers, Redis pub/sub) | {b['n']} | {b['p50']:.3f} s "
        f"| {b['p95']:.3f} s | {b['max']:.3f} s |",
    ]
    if polling:
        out.append(
            f"| polling every {polling['interval_ms']} ms (the browser figure) | {polling['n']} | "
            f"{polling['p50']:.3f} s | {polling['p95']:.3f} s | {polling['max']:.3f} s |"
        )
    return out
