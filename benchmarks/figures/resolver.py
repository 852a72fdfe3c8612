"""The default resolver's latency (phone number to user) at 1k, 100k and 1M users."""

from __future__ import annotations

import json
import random
import statistics
import sys
import time
from typing import Any

from benchmarks.harness.payloads import phone_of
from benchmarks.harness.report import Target

NAME = "resolver"
TITLE = "Default resolver (PostgreSQL, indexed phone column)"
ORDER = 30
REQUIRES = frozenset({"postgres"})


def run(ctx: Any, quick: bool) -> list[dict[str, Any]]:
    url = ctx.new_database("wl_bench_resolver")
    sizes = "1000,20000" if quick else "1000,100000,1000000"
    lookups = "300" if quick else "3000"
    rows: list[dict[str, Any]] = ctx.child(NAME, url, sizes, lookups)
    return rows


def child(args: list[str]) -> None:
    """Runs in its own process on its own database; prints one JSON line."""
    database_url, sizes, lookups = args[0], [int(s) for s in args[1].split(",")], int(args[2])
    from benchmarks.harness.site import setup_django

    setup_django(database_url)
    from django.core.management import call_command
    from django.db import connection

    from django_whatsapp_login.resolvers import default_resolver

    call_command("migrate", verbosity=0)
    table = "benchsite_user"
    results = []
    have = 0
    for size in sizes:
        with connection.cursor() as cursor:
            raw = cursor.connection
            with (
                raw.cursor() as cur,
                cur.copy(
                    f"COPY {table} (password, is_superuser, username, first_name, last_name, email,"
                    " is_staff, is_active, date_joined, phone) FROM STDIN"
                ) as copy,
            ):
                for i in range(have + 1, size + 1):
                    copy.write_row(
                        (
                            "!",
                            False,
                            f"r{i}",
                            "",
                            "",
                            f"r{i}@example.com",
                            False,
                            True,
                            "2024-01-01T00:00:00Z",
                            phone_of(i),
                        )
                    )
            cursor.execute(f"ANALYZE {table}")
        have = size
        for _ in range(300):  # warm up
            default_resolver(phone_of(random.randint(1, size)))
        times = []
        for _ in range(lookups):
            phone = phone_of(random.randint(1, size))
            t = time.perf_counter()
            user = default_resolver(phone)
            times.append(time.perf_counter() - t)
            if user is None or user.phone != phone:
                raise AssertionError(f"resolver: {phone} gave {user!r}")
        misses = []
        for _ in range(lookups // 4):
            t = time.perf_counter()
            user = default_resolver("+99680" + f"{random.randint(0, 9999999):07d}")
            misses.append(time.perf_counter() - t)
            if user is not None:
                raise AssertionError(f"resolver: an unknown number gave {user!r}")
        times.sort()
        results.append(
            {
                "users": size,
                "lookups": lookups,
                "p50_ms": 1000 * statistics.median(times),
                "p95_ms": 1000 * times[int(0.95 * len(times))],
                "miss_p50_ms": 1000 * statistics.median(misses),
            }
        )
        print(f"  resolver at {size}: {results[-1]}", file=sys.stderr, flush=True)
    print(json.dumps(results))


def _growth(data: list[dict[str, Any]]) -> tuple[str, bool]:
    ratio = data[-1]["p50_ms"] / data[0]["p50_ms"]
    return f"{ratio:.2f} ({data[-1]['users']:,} / {data[0]['users']:,} users)", ratio <= 1.3


TARGETS = [Target("resolver p50 at the largest size / at 1k users <= 1.3", _growth)]


def render(data: list[dict[str, Any]], results: dict[str, Any]) -> list[str]:
    out = ["| users | lookups | p50 | p95 | miss p50 |", "|---:|---:|---:|---:|---:|"]
    out += [
        f"| {r['users']:,} | {r['lookups']:,} | {r['p50_ms']:.3f} ms | {r['p95_ms']:.3f} ms | "
        f"{r['miss_p50_ms']:.3f} ms |"
        for r in data
    ]
    value, ok = _growth(data)
    out += ["", f"Latency ratio (p50): {value}; target <= 1.3: {'met' if ok else 'NOT met'}."]
    return out
