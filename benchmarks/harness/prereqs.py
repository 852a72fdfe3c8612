"""Prerequisites, checked before the first measurement: what is missing and how to get it.

Two passes: :func:`check_system` uses the standard library only and runs before the venv is
built (a missing server is reported in a second, not after a pip install); :func:`check_venv`
runs inside the venv and proves the pieces work together (a psycopg login that may create
databases, a Redis PING, Playwright driving the system's Chromium).
"""

from __future__ import annotations

import os
import socket
import subprocess
from dataclasses import dataclass
from urllib.parse import urlsplit

#: The prerequisites a figure may declare in its ``REQUIRES``.
KNOWN = frozenset({"postgres", "redis", "chromium"})

HOW = {
    "postgres": (
        "start PostgreSQL (Debian: apt-get install postgresql) and set "
        "DATABASE_URL=postgres://USER@HOST:PORT/DBNAME naming an existing database and a "
        "role that may CREATE DATABASE (the benchmark creates and drops its own wl_bench_* "
        "databases)"
    ),
    "redis": (
        "start Redis (Debian: apt-get install redis-server) and set "
        "REDIS_URL=redis://HOST:PORT/DB, or leave out the figures that need it with "
        "--skip {figures}"
    ),
    "chromium": (
        "install Chromium from the system (Debian: apt-get install chromium) or set "
        "WL_BENCH_CHROMIUM=/path/to/chromium; the benchmark never downloads a browser "
        "(no `playwright install`), or leave out the figures that need it with --skip {figures}"
    ),
}


@dataclass(frozen=True)
class Missing:
    need: str  # one of KNOWN
    what: str  # what was tried and what went wrong
    how: str  # how to get it


def _how(need: str, figures: list[str]) -> str:
    return HOW[need].format(figures=",".join(figures) or "-")


def _tcp(url: str, default_port: int) -> str | None:
    """None when something accepts TCP connections at the URL's host and port."""
    parts = urlsplit(url)
    host = parts.hostname
    if not host:  # a Unix socket: left to the driver's check
        return None
    try:
        port = parts.port or default_port
    except ValueError as err:
        return f"bad port in {url!r}: {err}"
    try:
        with socket.create_connection((host, port), timeout=3):
            return None
    except OSError as err:
        return f"nothing answers at {host}:{port} ({err.strerror or err})"


def check_system(
    needs: dict[str, list[str]], *, pg_url: str, redis_url: str, chromium: str
) -> list[Missing]:
    """``needs`` maps each prerequisite to the figures that need it."""
    missing = []
    if "postgres" in needs:
        if not pg_url.startswith(("postgres://", "postgresql://")):
            missing.append(
                Missing(
                    "postgres",
                    f"DATABASE_URL={pg_url!r} is not a PostgreSQL URL",
                    _how("postgres", needs["postgres"]),
                )
            )
        else:
            problem = _tcp(pg_url, 5432)
            if problem:
                missing.append(
                    Missing(
                        "postgres", f"PostgreSQL: {problem}", _how("postgres", needs["postgres"])
                    )
                )
    if "redis" in needs:
        problem = (
            f"REDIS_URL={redis_url!r} is not a redis:// URL"
            if not redis_url.startswith(("redis://", "rediss://"))
            else _tcp(redis_url, 6379)
        )
        if problem:
            missing.append(Missing("redis", f"Redis: {problem}", _how("redis", needs["redis"])))
    if "chromium" in needs:
        problem = None
        if not os.access(chromium, os.X_OK):
            problem = f"no executable at {chromium}"
        else:
            try:
                subprocess.run([chromium, "--version"], capture_output=True, timeout=30, check=True)
            except (OSError, subprocess.SubprocessError) as err:
                problem = f"{chromium} --version failed: {err}"
        if problem:
            missing.append(
                Missing("chromium", f"Chromium: {problem}", _how("chromium", needs["chromium"]))
            )
    return missing


def check_venv(
    needs: dict[str, list[str]], *, pg_url: str, redis_url: str, chromium: str
) -> list[Missing]:
    """The drivers themselves, inside the venv (psycopg, redis-py, Playwright)."""
    missing = []
    if "postgres" in needs:
        try:
            import psycopg

            with psycopg.connect(pg_url, autocommit=True, connect_timeout=5) as conn:
                row = conn.execute(
                    "SELECT rolcreatedb OR rolsuper FROM pg_roles WHERE rolname = current_user"
                ).fetchone()
            if not (row and row[0]):
                missing.append(
                    Missing(
                        "postgres",
                        "PostgreSQL: the role in DATABASE_URL may not CREATE DATABASE",
                        _how("postgres", needs["postgres"]),
                    )
                )
        except Exception as err:
            missing.append(
                Missing(
                    "postgres",
                    f"PostgreSQL: cannot log in with DATABASE_URL: {one_line(err)}",
                    _how("postgres", needs["postgres"]),
                )
            )
    if "redis" in needs:
        try:
            import redis

            client = redis.Redis.from_url(redis_url, socket_timeout=5)
            client.ping()
            client.close()
        except Exception as err:
            missing.append(
                Missing(
                    "redis", f"Redis: PING failed: {one_line(err)}", _how("redis", needs["redis"])
                )
            )
    if "chromium" in needs:
        try:
            from playwright.sync_api import sync_playwright

            with sync_playwright() as p:
                p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS).close()
        except Exception as err:
            missing.append(
                Missing(
                    "chromium",
                    f"Chromium: Playwright cannot start {chromium}: {one_line(err)}",
                    _how("chromium", needs["chromium"]),
                )
            )
    return missing


CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def one_line(err: BaseException, limit: int = 240) -> str:
    """``Type: first line of the message``, short enough for a table cell."""
    text = str(err).strip().splitlines()
    line = f"{type(err).__name__}: {text[0]}" if text else type(err).__name__
    line = line.replace("|", "/")  # never break a Markdown table
    return line if len(line) <= limit else line[: limit - 3] + "..."


def explain(missing: list[Missing]) -> str:
    lines = ["benchmarks: cannot start, prerequisites missing:"]
    for m in missing:
        lines += [f"  - {m.what}", f"    how: {m.how}"]
    return "\n".join(lines)
