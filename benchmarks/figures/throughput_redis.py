"""The status poll and the ignored webhook again, on a server whose cache is Redis (the
production shape: rate-limit counters shared by every worker)."""

from __future__ import annotations

import secrets
from typing import Any

from benchmarks.figures.throughput import IGNORED, STATUS, measure, ratio_at_least
from benchmarks.harness.clients import throughput_table
from benchmarks.harness.report import Target

NAME = "throughput_redis"
TITLE = "Throughput with Redis as the cache"
ORDER = 25
REQUIRES = frozenset({"postgres", "redis"})


def run(ctx: Any, quick: bool) -> list[dict[str, Any]]:
    server = ctx.start_server(
        "redis",
        BENCH_REDIS_URL=ctx.redis_url,
        BENCH_CACHE_PREFIX="wl_bench_" + secrets.token_hex(4),
    )
    return measure(server, quick, (IGNORED, STATUS), status_target=0.85)


TARGETS = [
    Target(
        "ignored-event webhook >= 0.8x a bare view, with Redis as the cache",
        ratio_at_least(IGNORED, 0.8),
    ),
    Target(
        "status poll >= 0.85x a bare view that reads the session, with Redis as the cache",
        ratio_at_least(STATUS, 0.85),
    ),
]


def render(data: list[dict[str, Any]], results: dict[str, Any]) -> list[str]:
    out = [
        "A second server of the same site on the same database, with "
        "`django.core.cache.backends.redis.RedisCache` (REDIS_URL) as the default cache; the "
        "baselines are served by that server too.",
        "",
        *throughput_table(data),
    ]
    local = {r["name"]: r for r in results.get("throughput", [])}
    lines = []
    for row in data:
        other = local.get(row["name"])
        if other:
            lines.append(
                f"- {row['name']}: {row['ratio']:.2f}x with Redis, {other['ratio']:.2f}x with "
                f"the local-memory cache; server CPU per request {row['cpu_ms']:.2f} ms and "
                f"{other['cpu_ms']:.2f} ms."
            )
    if lines:
        out += ["", "Read from this run, against the throughput figure above:", "", *lines]
    return out
