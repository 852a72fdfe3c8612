"""One uvicorn worker holding many waiting pages (5,000; 200 in ``--quick``), each woken by
its own webhook: the lean wrapper (``django_whatsapp_login.asgi.live_events``) and, as the
baseline in the same run, Django's ASGI handler with the events view."""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.harness import TOKEN
from benchmarks.harness.payloads import WEBHOOK_PATH, incoming, phone_of
from benchmarks.harness.report import Target

NAME = "held"
TITLE = "One ASGI worker holding many waiting pages"
ORDER = 66
REQUIRES = frozenset({"postgres", "redis"})

MESSAGE_RE = re.compile(rb"data-wl-message>([^<]+)<")
#: The two holders, lean first (the figure's subject), then the baseline.
HOLDERS = (
    ("wrapper", "benchsite.asgi:application"),
    ("view", "benchsite.asgi:django_application"),
)


def run(ctx: Any, quick: bool) -> dict[str, Any]:
    prefix = "wl_bench_" + secrets.token_hex(4)
    shared = {"BENCH_REDIS_URL": ctx.redis_url, "BENCH_CACHE_PREFIX": prefix, "BENCH_LIVE": "redis"}
    # Webhooks and login pages: gunicorn with the same Redis (it publishes the changes).
    wsgi = ctx.start_server("held-wsgi", **shared)
    pages = 200 if quick else 5000
    out: dict[str, Any] = {}
    for label, asgi in HOLDERS:
        holder = ctx.start_asgi_server(
            f"held-{label}", workers=1, asgi=asgi, BENCH_LIVE_TIMEOUT="900", **shared
        )
        out[label] = ctx.child(
            NAME, str(wsgi.port), str(holder.port), str(holder.process.pid), str(pages)
        )
        holder.stop()
    return out


# --- the load client (its own process, no Django) ------------------------------------


async def _http(port: int, request: bytes) -> tuple[bytes, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    await writer.drain()
    data = await reader.read()
    writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    return head, body


async def _session(port: int) -> tuple[str, str]:
    head, body = await _http(
        port, b"GET /login HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    cookies = [
        line.split(b":", 1)[1].split(b";", 1)[0].strip().decode()
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"set-cookie:")
    ]
    found = MESSAGE_RE.search(body)
    if found is None:
        raise AssertionError(f"no message on the login page: {head[:120]!r}")
    return "; ".join(cookies), found.group(1).decode()


class Stream:
    def __init__(self, cookie: str, message: str) -> None:
        self.cookie, self.message = cookie, message
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self, port: int) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", port)
        self.writer.write(
            f"GET /whatsapp/events/ HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: {self.cookie}\r\n"
            "Accept: text/event-stream\r\n\r\n".encode()
        )
        await self.writer.drain()
        status = await self.reader.readline()
        if b" 200 " not in status:
            raise AssertionError(f"events answered {status!r}")
        await self.data()  # the state at once: pending

    async def data(self) -> dict[str, Any]:
        assert self.reader is not None
        while True:
            line = await self.reader.readline()
            if not line:
                raise AssertionError("the stream ended")
            if line.startswith(b"data: "):
                return dict(json.loads(line[6:]))

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def _proc(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field}")


def _rss_kib(pid: int) -> int:
    return _proc(pid, "VmRSS")


async def _held(wsgi_port: int, holder_port: int, pid: int, pages: int) -> dict[str, Any]:
    limit = asyncio.Semaphore(8)

    async def bounded(coro: Any) -> Any:
        async with limit:
            return await coro

    started = time.perf_counter()
    sessions = await asyncio.gather(*(bounded(_session(wsgi_port)) for _ in range(pages + 20)))
    made = time.perf_counter() - started
    print(f"  held: {len(sessions)} sessions in {made:.1f} s", file=sys.stderr, flush=True)
    # Warm the worker up (code paths, the listener, pools), then measure its memory.
    warm = [Stream(*session) for session in sessions[:20]]
    await asyncio.gather(*(s.open(holder_port) for s in warm))
    for s in warm:
        s.close()
    await asyncio.sleep(1)
    before = _rss_kib(pid)
    streams = [Stream(*session) for session in sessions[20:]]
    opened = time.perf_counter()
    limit = asyncio.Semaphore(64)
    results = await asyncio.gather(
        *(bounded(s.open(holder_port)) for s in streams), return_exceptions=True
    )
    open_errors = [r for r in results if isinstance(r, BaseException)]
    open_s = time.perf_counter() - opened
    await asyncio.sleep(1)
    after = _rss_kib(pid)
    threads = _proc(pid, "Threads")
    print(
        f"  held: {pages} streams open in {open_s:.1f} s, {len(open_errors)} errors, "
        f"RSS {before} -> {after} KiB {sorted({repr(e)[:100] for e in open_errors})[:3]}",
        file=sys.stderr,
        flush=True,
    )
    woken: list[float] = []
    errors = len(open_errors)
    senders = asyncio.Semaphore(16)

    async def wake(i: int, stream: Stream) -> None:
        nonlocal errors
        async with senders:
            body = incoming(stream.message, phone_of(i % 400 + 1))
            request = (
                f"POST {WEBHOOK_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                f"Authorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            ).encode() + body
            sent = time.perf_counter()
            head, answer = await _http(wsgi_port, request)
        try:
            if b'"confirmed"' not in answer:
                raise AssertionError(f"webhook: {head[:40]!r} {answer[:80]!r}")
            data = await asyncio.wait_for(stream.data(), 10)
            if data.get("status") != "confirmed":
                raise AssertionError(data)
            woken.append(time.perf_counter() - sent)
        except Exception:
            errors += 1

    alive = [s for s, r in zip(streams, results, strict=True) if not isinstance(r, BaseException)]
    woke_at = time.perf_counter()
    await asyncio.gather(*(wake(i, s) for i, s in enumerate(alive)))
    wake_s = time.perf_counter() - woke_at
    for s in streams:
        s.close()
    woken.sort()
    return {
        "pages": pages,
        "open_errors": len(open_errors),
        "open_error_samples": sorted({str(e)[:120] for e in open_errors})[:3],
        "errors": errors,
        "woken": len(woken),
        "p50": statistics.median(woken) if woken else None,
        "p95": woken[min(len(woken) - 1, round(0.95 * len(woken)) - 1)] if woken else None,
        "max": woken[-1] if woken else None,
        "open_s": open_s,
        "wake_s": wake_s,
        "rss_before_kib": before,
        "rss_after_kib": after,
        "kib_per_page": (after - before) / pages,
        "threads": threads,
    }


def child(args: list[str]) -> None:
    wsgi_port, holder_port, pid, pages = (int(a) for a in args)
    print(json.dumps(asyncio.run(_held(wsgi_port, holder_port, pid, pages))))


# --- the page -------------------------------------------------------------------------


def _held_ok(data: dict[str, Any]) -> tuple[str, bool]:
    held = data["wrapper"]
    ok = held["errors"] == 0 and held["woken"] == held["pages"] and (held["max"] or 9) <= 1.0
    return (
        f"{held['pages']} pages, {held['errors']} errors, max {held['max'] or 0:.3f} s",
        ok,
    )


def _memory(data: dict[str, Any]) -> tuple[str, bool]:
    per = data["wrapper"]["kib_per_page"]
    return f"{per:.1f} KiB", per <= 20


TARGETS = [
    Target("one ASGI worker: every waiting page woken within 1 s, 0 errors", _held_ok),
    Target("memory per waiting page <= 20 KiB", _memory),
]


def _row(name: str, h: dict[str, Any]) -> str:
    return (
        f"| {name} | {h['pages']} | {h['open_errors']} | {h['errors']} | {h['woken']} "
        f"| {h['p50'] or 0:.3f} s | {h['p95'] or 0:.3f} s | {h['max'] or 0:.3f} s "
        f"| {h['open_s']:.1f} s | {h['kib_per_page']:.1f} KiB | {h.get('threads', '?')} |"
    )


def render(data: dict[str, Any], results: dict[str, Any]) -> list[str]:
    lean, view = data["wrapper"], data["view"]
    return [
        'One uvicorn worker (`WHATSAPP_LOGIN_LIVE = "redis"`, Redis as the cache) held '
        f"{lean['pages']} open event streams, one session each, opened by one asyncio client on "
        "the loopback (64 at a time); each was then woken by its own webhook to a gunicorn "
        "server of the same site, 16 at a time. Wake-up: from the webhook request to the "
        "event. Memory: the worker's resident memory after opening every stream minus before "
        "(after 20 warm-up streams), per stream; the kernel's socket buffers are not in it. "
        "Same run, same site: `benchsite.asgi:application` (the lean wrapper "
        "`django_whatsapp_login.asgi.live_events`) and `benchsite.asgi:django_application` "
        "(Django's ASGI handler and the events view, the baseline).",
        "",
        "| front door | pages | refused | errors | woken | wake p50 | wake p95 | wake max "
        "| all open in | memory per page | threads |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        _row("lean wrapper (`live_events`)", lean),
        _row("Django view (baseline)", view),
        "",
        "Django's handler gives each request a thread for its synchronous middleware until "
        "the response ends, so with the view every waiting page holds an idle thread; the "
        "wrapper holds one coroutine and one task (watching for the hang-up) per page, and "
        "woken streams re-read their attempts in batches in the loop's shared thread pool.",
    ]
