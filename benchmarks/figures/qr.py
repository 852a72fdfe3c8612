"""The login page's QR code: rendering it against taking it from the per-process cache.

In process, no server: ``qr_svg`` of a new code each time (a first visit: every code is
new) against the same code again (a reload, a second tab, ``start`` answering with the
live attempt), interleaved rounds, the median per round.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

NAME = "qr"
TITLE = "The login page's QR code, rendered and cached"
ORDER = 45
REQUIRES: frozenset[str] = frozenset()


def run(ctx: Any, quick: bool) -> dict[str, Any]:
    from django_whatsapp_login import attempts
    from django_whatsapp_login.qr import qr_svg

    per_round = 50 if quick else 300
    rounds = 3 if quick else 7
    fresh_ms, cached_ms = [], []
    same = attempts.wa_link(attempts.generate_code())
    qr_svg(same, title="QR code")
    for _ in range(rounds):
        links = [attempts.wa_link(attempts.generate_code()) for _ in range(per_round)]
        start = time.perf_counter()
        for link in links:
            qr_svg(link, title="QR code")
        fresh_ms.append(1000 * (time.perf_counter() - start) / per_round)
        start = time.perf_counter()
        for _ in range(per_round):
            qr_svg(same, title="QR code")
        cached_ms.append(1000 * (time.perf_counter() - start) / per_round)
    fresh, cached = statistics.median(fresh_ms), statistics.median(cached_ms)
    data = {"rendered_ms": fresh, "cached_ms": cached, "ratio": cached / fresh}
    print(f"  rendered {fresh:.3f} ms, cached {cached:.4f} ms", flush=True)
    return data


TARGETS: list[Any] = []


def render(data: dict[str, Any], results: dict[str, Any]) -> list[str]:
    out = [
        "In process: `qr_svg` of a new code (a first visit) against the same code again (a "
        "reload, a second tab, `start` answering with the live attempt), median of "
        "interleaved rounds.",
        "",
        "| QR code | time per code |",
        "|---|---:|",
        f"| rendered (new code) | {data['rendered_ms']:.3f} ms |",
        f"| from the per-process cache (same code) | {data['cached_ms']:.4f} ms |",
        "",
    ]
    page = next(
        (r for r in results.get("throughput", []) if r["name"].startswith("login page")), None
    )
    share = (
        f"; the login page's first visit costs {page['cpu_ms']:.2f} ms of server CPU in the "
        f"throughput figure, of which rendering is {data['rendered_ms'] / page['cpu_ms']:.0%}"
        if page
        else ""
    )
    out.append(
        f"Read from this run: the cache answers in {data['ratio']:.1%} of the render time, "
        f"which pays only when a code is shown again; a first visit always renders{share}."
    )
    return out
