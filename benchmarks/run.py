#!/usr/bin/env python3
"""Benchmarks of django-whatsapp-login: `python3 benchmarks/run.py` from the repository root.

Creates benchmarks/.venv (with the system site packages, plus benchmarks/requirements.txt:
django-allauth, django-sesame, gunicorn), a fresh PostgreSQL database (DATABASE_URL, default
postgres://postgres@127.0.0.1:5432/postgres names the server), serves benchmarks/benchsite
with gunicorn, measures, prints a table and writes docs/benchmarks.md. Every figure is a
ratio against a baseline measured in the same run on the same server.

Options: --quick (shorter runs, for trying the script), --no-write (do not touch docs/).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import random
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from multiprocessing import get_context
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
VENV = HERE / ".venv"
VENV_PY = VENV / "bin" / "python"
DEFAULT_PG = "postgres://postgres@127.0.0.1:5432/postgres"
# Shared with the child processes (browser, resolver) through the environment.
TOKEN = os.environ.setdefault("WL_BENCH_TOKEN", "bench-" + secrets.token_urlsafe(32))
WORKERS = 4
USERS = 400
BUSINESS_WID = "996555000001@c.us"
INSTANCE = "1101000001"


# --- environment ------------------------------------------------------------------------


def ensure_venv() -> None:
    """Re-run this script inside benchmarks/.venv, creating it when needed."""
    if Path(sys.prefix).resolve() == VENV.resolve():
        return
    stamp = VENV / ".requirements"
    wanted = (HERE / "requirements.txt").read_text()
    if not VENV_PY.exists():
        print(f"Creating {VENV} ...", flush=True)
        subprocess.run(
            [sys.executable, "-m", "venv", "--system-site-packages", str(VENV)], check=True
        )
    if not stamp.exists() or stamp.read_text() != wanted:
        print("Installing benchmarks/requirements.txt and the package ...", flush=True)
        subprocess.run(
            [
                str(VENV_PY),
                "-m",
                "pip",
                "install",
                "--quiet",
                "-r",
                str(HERE / "requirements.txt"),
                "-e",
                str(ROOT),
            ],
            check=True,
        )
        stamp.write_text(wanted)
    os.execv(str(VENV_PY), [str(VENV_PY), __file__, *sys.argv[1:]])


sys.path[:0] = [str(ROOT), str(HERE)]


def setup_django(database_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ["DJANGO_SETTINGS_MODULE"] = "benchsite.settings"
    os.environ["GREEN_API_WEBHOOK_TOKEN"] = TOKEN
    import django

    django.setup()


def server_env(database_url: str, mail_dir: str, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "benchsite.settings",
            "DATABASE_URL": database_url,
            "GREEN_API_WEBHOOK_TOKEN": TOKEN,
            "BENCH_MAIL_DIR": mail_dir,
            "PYTHONPATH": os.pathsep.join([str(HERE), str(ROOT / "src")]),
        }
    )
    env.update(extra)
    return env


# --- payloads -----------------------------------------------------------------------------

_ids = iter(range(1, 10**9))


def incoming(text: str, phone: str) -> bytes:
    sender = phone.lstrip("+") + "@c.us"
    return json.dumps(
        {
            "typeWebhook": "incomingMessageReceived",
            "instanceData": {
                "idInstance": int(INSTANCE),
                "wid": BUSINESS_WID,
                "typeInstance": "whatsapp",
            },
            "timestamp": int(time.time()),
            "idMessage": f"3EB0{secrets.token_hex(8).upper()}",
            "senderData": {
                "chatId": sender,
                "chatName": "U",
                "sender": sender,
                "senderName": "U",
                "senderContactName": "",
            },
            "messageData": {"typeMessage": "textMessage", "textMessageData": {"textMessage": text}},
        }
    ).encode()


IGNORED_EVENT = json.dumps(
    {
        "typeWebhook": "outgoingMessageStatus",
        "instanceData": {
            "idInstance": int(INSTANCE),
            "wid": BUSINESS_WID,
            "typeInstance": "whatsapp",
        },
        "timestamp": 1700000000,
        "idMessage": "BAE5F4886F2A1A2B",
        "status": "delivered",
        "chatId": "996700123456@c.us",
        "sendByApi": True,
    }
).encode()


def phone_of(i: int) -> str:
    return f"+99670{i:07d}"


# --- throughput -----------------------------------------------------------------------------


def _hammer(args):  # runs in a child process
    port, method, path, headers, bodies, duration = args
    done = errors = 0
    deadline = time.monotonic() + duration
    index = 0
    while time.monotonic() < deadline:
        if bodies is not None:
            if index >= len(bodies):
                break
            body = bodies[index]
            index += 1
        else:
            body = None
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            if 200 <= response.status < 300:
                done += 1
            else:
                errors += 1
        except OSError:
            errors += 1
        finally:
            conn.close()
    return done, errors


def throughput(
    server, method, path, *, clients, duration, headers=None, bodies=None, per_client_headers=None
):
    """Requests per second and server CPU ms per request over `duration` seconds."""
    ctx = get_context("fork")
    jobs = []
    for i in range(clients):
        h = dict(headers or {})
        if per_client_headers:
            h.update(per_client_headers[i])
        b = bodies[i::clients] if bodies is not None else None
        jobs.append((server.port, method, path, h, b, duration))
    cpu0 = server.cpu_seconds()
    start = time.perf_counter()
    with ctx.Pool(clients) as pool:
        results = pool.map(_hammer, jobs)
    elapsed = time.perf_counter() - start
    cpu = server.cpu_seconds() - cpu0
    done = sum(r[0] for r in results)
    errors = sum(r[1] for r in results)
    return {"rps": done / elapsed, "cpu_ms": 1000 * cpu / max(done, 1), "n": done, "errors": errors}


def session_cookie(server) -> str:
    """A fresh browser session with a live attempt (GET /login), as a Cookie header."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port)
    conn.request("GET", "/login")
    response = conn.getresponse()
    response.read()
    cookies = [h.split(";", 1)[0] for k, h in response.getheaders() if k.lower() == "set-cookie"]
    conn.close()
    return "; ".join(cookies)


def make_attempts(count: int) -> list[str]:
    """Pending attempts created straight in the database; returns their codes."""
    from datetime import timedelta

    from django.utils import timezone

    from django_whatsapp_login.attempts import generate_code, hash_secret
    from django_whatsapp_login.models import LoginAttempt

    now = timezone.now()
    codes = [generate_code() for _ in range(count)]
    LoginAttempt.objects.bulk_create(
        [
            LoginAttempt(
                code_hash=hash_secret(c),
                binding_hash=hash_secret(secrets.token_hex(16)),
                created_at=now,
                expires_at=now + timedelta(seconds=600),
            )
            for c in codes
        ],
        batch_size=1000,
    )
    return codes


def run_throughput(server, quick: bool) -> list[dict]:
    from django.db import connections

    duration = 2.0 if quick else 4.0
    rounds = 1 if quick else 3
    clients = 4
    auth = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    codes = make_attempts(int(600 * duration * rounds) + 500)
    connections.close_all()  # before forking the clients
    cookies = [{"Cookie": session_cookie(server)} for _ in range(clients)]
    code_iter = iter(codes)

    def login_bodies():
        n = int(600 * duration)
        return [incoming(f"AMT LOGIN {next(code_iter)}", phone_of(i % USERS + 1)) for i in range(n)]

    pairs = [
        (
            "webhook: ignored event (POST)",
            lambda: throughput(
                server,
                "POST",
                "/api/webhooks/greenapi/incoming/",
                clients=clients,
                duration=duration,
                headers=auth,
                bodies=[IGNORED_EVENT] * 100000,
            ),
            lambda: throughput(
                server,
                "POST",
                "/bench/bare/",
                clients=clients,
                duration=duration,
                headers={"Content-Type": "application/json"},
                bodies=[IGNORED_EVENT] * 100000,
            ),
            "bare JSON view (POST)",
            0.8,
        ),
        (
            "webhook: login message (confirms)",
            lambda: throughput(
                server,
                "POST",
                "/api/webhooks/greenapi/incoming/",
                clients=clients,
                duration=duration,
                headers=auth,
                bodies=login_bodies(),
            ),
            lambda: throughput(
                server,
                "POST",
                "/bench/bare/",
                clients=clients,
                duration=duration,
                headers={"Content-Type": "application/json"},
                bodies=[IGNORED_EVENT] * 100000,
            ),
            "bare JSON view (POST)",
            None,
        ),
        (
            "login page, first visit (GET /login)",
            lambda: throughput(server, "GET", "/login", clients=clients, duration=duration),
            lambda: throughput(server, "GET", "/bench/bare/", clients=clients, duration=duration),
            "bare JSON view (GET)",
            None,
        ),
        (
            "status poll (GET /whatsapp/status/)",
            lambda: throughput(
                server,
                "GET",
                "/whatsapp/status/",
                clients=clients,
                duration=duration,
                per_client_headers=cookies,
            ),
            lambda: throughput(
                server,
                "GET",
                "/bench/session/",
                clients=clients,
                duration=duration,
                per_client_headers=cookies,
            ),
            "bare view reading the session",
            0.85,
        ),
    ]
    rows = []
    for name, subject, baseline, base_name, target in pairs:
        subj, base = [], []
        for _ in range(rounds):  # interleaved, so drift hits both sides alike
            base.append(baseline())
            subj.append(subject())
        s_rps = statistics.median(r["rps"] for r in subj)
        b_rps = statistics.median(r["rps"] for r in base)
        s_cpu = statistics.median(r["cpu_ms"] for r in subj)
        b_cpu = statistics.median(r["cpu_ms"] for r in base)
        errors = sum(r["errors"] for r in subj + base)
        rows.append(
            {
                "name": name,
                "baseline": base_name,
                "rps": s_rps,
                "base_rps": b_rps,
                "ratio": s_rps / b_rps,
                "cpu_ms": s_cpu,
                "base_cpu_ms": b_cpu,
                "cpu_ratio": s_cpu / b_cpu,
                "errors": errors,
                "target": target,
            }
        )
        print(
            f"  {name}: {s_rps:.0f} req/s vs {b_rps:.0f} ({s_rps / b_rps:.2f}x); "
            f"CPU {s_cpu:.2f} ms vs {b_cpu:.2f} ms; errors {errors}",
            flush=True,
        )
    return rows


# --- SQL queries per operation ---------------------------------------------------------------


def run_queries() -> list[dict]:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    control = re.compile(r"^(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE SAVEPOINT)\b")

    def count(fn):
        with CaptureQueriesContext(connection) as ctx:
            response = fn()
        total = len(ctx.captured_queries)
        data = sum(1 for q in ctx.captured_queries if not control.match(q["sql"]))
        return (data, total), response

    rows = []
    browser = Client()
    webhook = Client(enforce_csrf_checks=True)
    auth = {"HTTP_AUTHORIZATION": f"Bearer {TOKEN}"}
    n, r = count(lambda: browser.get("/login"))
    assert r.status_code == 200
    rows.append(("login page, first visit (session + attempt created)", n))
    fresh = Client()
    n, r = count(lambda: fresh.post("/whatsapp/start/"))
    assert r.status_code == 200, r.content
    rows.append(("start (POST /whatsapp/start/, new session)", n))
    message = r.json()["message"]
    n, r = count(lambda: fresh.get("/whatsapp/status/"))
    assert r.json()["status"] == "pending"
    rows.append(("status poll, pending", n))
    n, r = count(
        lambda: webhook.post(
            "/api/webhooks/greenapi/incoming/",
            data=incoming(message, phone_of(1)),
            content_type="application/json",
            **auth,
        )
    )
    assert r.json()["status"] == "confirmed", r.content
    rows.append(("webhook, confirming login message", n))
    n, r = count(lambda: fresh.get("/whatsapp/status/"))
    assert r.json()["status"] == "confirmed"
    rows.append(("status poll, confirmed", n))
    n, r = count(lambda: fresh.post("/whatsapp/complete/", HTTP_ACCEPT="application/json"))
    assert r.status_code == 200, r.content
    rows.append(("complete (login, session rotated)", n))
    n, r = count(
        lambda: webhook.post(
            "/api/webhooks/greenapi/incoming/",
            data=IGNORED_EVENT,
            content_type="application/json",
            **auth,
        )
    )
    assert r.json()["status"] == "ignored"
    rows.append(("webhook, ignored event (outgoingMessageStatus)", n))
    n, r = count(
        lambda: webhook.post(
            "/api/webhooks/greenapi/incoming/",
            data=incoming("hello there", phone_of(2)),
            content_type="application/json",
            **auth,
        )
    )
    assert r.json()["status"] == "ignored"
    rows.append(("webhook, ordinary chat text (not a login)", n))
    n, r = count(
        lambda: webhook.post(
            "/api/webhooks/greenapi/incoming/",
            data=IGNORED_EVENT,
            content_type="application/json",
            HTTP_AUTHORIZATION="Bearer wrong",
        )
    )
    assert r.status_code == 401
    rows.append(("webhook, wrong token (401)", n))
    return [{"operation": op, "queries": q[0], "with_tx": q[1]} for op, q in rows]


# --- resolver ----------------------------------------------------------------------------------


def resolver_child(database_url: str, sizes: list[int], lookups: int) -> None:
    """Runs in its own process on its own database; prints one JSON line."""
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
            assert user is not None and user.phone == phone
        misses = []
        for _ in range(lookups // 4):
            t = time.perf_counter()
            assert default_resolver("+99680" + f"{random.randint(0, 9999999):07d}") is None
            misses.append(time.perf_counter() - t)
        times.sort()
        results.append(
            {
                "users": size,
                "p50_ms": 1000 * statistics.median(times),
                "p95_ms": 1000 * times[int(0.95 * len(times))],
                "miss_p50_ms": 1000 * statistics.median(misses),
            }
        )
        print(f"  resolver at {size}: {results[-1]}", file=sys.stderr, flush=True)
    print(json.dumps(results))


# --- browser latency --------------------------------------------------------------------------


def browser_child(base: str, port: int, interval_ms: int, samples: int) -> None:
    """Delivery-to-logged-in in Chromium; runs in its own process (no Django here)."""
    from playwright.sync_api import sync_playwright

    args = [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
    ]
    latencies = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=args)
        for i in range(samples):
            context = browser.new_context()
            page = context.new_page()
            page.goto(base + "/login")
            page.wait_for_selector(".wl-widget.wl-js")
            message = page.inner_text("[data-wl-message]").strip()
            # The person presses Send at a moment unrelated to the page's poll timer.
            time.sleep(0.2 + random.random() * interval_ms / 1000)
            conn = http.client.HTTPConnection("127.0.0.1", port)
            sent = time.perf_counter()
            conn.request(
                "POST",
                "/api/webhooks/greenapi/incoming/",
                body=incoming(message, phone_of(300 + i % 50)),
                headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
            )
            answer = json.loads(conn.getresponse().read())
            conn.close()
            assert answer["status"] == "confirmed", answer
            page.wait_for_url(base + "/", wait_until="commit", timeout=15000)
            latencies.append(time.perf_counter() - sent)
            page.wait_for_load_state()
            assert page.inner_text("body").startswith("Hello u")
            context.close()
        browser.close()
    print(json.dumps(latencies))


def run_browser(server_url: str, port: int, interval_ms: int, samples: int) -> dict:
    result = subprocess.run(
        [
            sys.executable,
            __file__,
            "--browser-child",
            server_url,
            str(port),
            str(interval_ms),
            str(samples),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": ""},
    )
    if result.returncode != 0:
        raise RuntimeError(result.stderr)
    values = sorted(json.loads(result.stdout.strip().splitlines()[-1]))
    return {
        "interval_ms": interval_ms,
        "n": len(values),
        "p50": statistics.median(values),
        "p95": values[min(len(values) - 1, round(0.95 * len(values)) - 1)],
        "max": values[-1],
    }


# --- complete logins: load run and CPU per login ---------------------------------------------


def _cookie(session, name: str) -> str:
    return session.cookies.get(name, "")


MESSAGE_RE = re.compile(r"data-wl-message>([^<]+)<")


def whatsapp_login(
    base: str, user_index: int, poll_interval: float = 1.0, send_after: float = 0.0
) -> dict:
    """One complete login as a browser and WhatsApp would do it, over HTTP."""
    import requests

    s = requests.Session()
    page = s.get(base + "/login", timeout=30)
    page.raise_for_status()
    message = MESSAGE_RE.search(page.text).group(1).strip()
    loaded = time.monotonic()
    polls = 0
    sent_at = None
    confirmed_seen = None
    send_at = loaded + send_after
    next_poll = loaded  # the page's script polls at once, then every interval
    while True:
        due = next_poll if sent_at is not None else min(send_at, next_poll)
        pause = due - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        if sent_at is None and send_at <= next_poll:
            r = requests.post(
                base + "/api/webhooks/greenapi/incoming/",
                data=incoming(message, phone_of(user_index)),
                headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
                timeout=30,
            )
            if r.status_code != 200 or r.json().get("status") != "confirmed":
                raise RuntimeError(f"webhook: {r.status_code} {r.text}")
            sent_at = time.monotonic()
            continue
        r = s.get(base + "/whatsapp/status/", headers={"Accept": "application/json"}, timeout=30)
        polls += 1
        if r.status_code != 200:
            raise RuntimeError(f"status: {r.status_code} {r.text}")
        state = r.json()["status"]
        if state == "confirmed":
            confirmed_seen = time.monotonic()
            break
        if state != "pending" or polls > 60:
            raise RuntimeError(f"status: {state} after {polls} polls")
        next_poll += poll_interval
    old_session = _cookie(s, "sessionid")
    r = s.post(
        base + "/whatsapp/complete/",
        headers={"X-CSRFToken": _cookie(s, "csrftoken"), "Accept": "application/json"},
        timeout=30,
    )
    if r.status_code != 200:
        raise RuntimeError(f"complete: {r.status_code} {r.text}")
    home = s.get(base + r.json()["redirect"], timeout=30)
    return {
        "ok": home.status_code == 200 and home.text == f"Hello u{user_index}",
        "body": home.text[:60],
        "polls": polls,
        "rotated": _cookie(s, "sessionid") != old_session,
        "seen_after": (confirmed_seen - sent_at) if sent_at else None,
    }


def allauth_login(base: str, user_index: int, mail_dir: Path) -> dict:
    import requests

    email = f"u{user_index}@example.com"
    inbox = mail_dir / f"{email}.txt"
    inbox.unlink(missing_ok=True)
    s = requests.Session()
    s.get(base + "/accounts/login/code/", timeout=30).raise_for_status()
    r = s.post(
        base + "/accounts/login/code/",
        data={"email": email, "csrfmiddlewaretoken": _cookie(s, "csrftoken")},
        headers={"Referer": base + "/accounts/login/code/"},
        timeout=30,
    )
    r.raise_for_status()
    body = inbox.read_text()
    code = next(
        line.strip() for line in body.splitlines() if re.fullmatch(r"[A-Z0-9-]{4,12}", line.strip())
    )
    r = s.post(
        base + "/accounts/login/code/confirm/",
        data={"code": code, "csrfmiddlewaretoken": _cookie(s, "csrftoken")},
        timeout=30,
    )
    return {"ok": r.status_code == 200 and r.text == f"Hello u{user_index}", "body": r.text[:60]}


def sesame_login(base: str, user_index: int, mail_dir: Path) -> dict:
    import requests

    email = f"u{user_index}@example.com"
    inbox = mail_dir / f"{email}.txt"
    inbox.unlink(missing_ok=True)
    s = requests.Session()
    s.get(base + "/sesame/request/", timeout=30).raise_for_status()
    s.post(
        base + "/sesame/request/",
        data={"email": email, "csrfmiddlewaretoken": _cookie(s, "csrftoken")},
        timeout=30,
    ).raise_for_status()
    link = re.search(r"(http\S+)", inbox.read_text()).group(1)
    r = s.get(link, timeout=30)
    return {"ok": r.status_code == 200 and r.text == f"Hello u{user_index}", "body": r.text[:60]}


def run_cpu_per_login(server, mail_dir: Path, n: int) -> list[dict]:
    flows = [
        (
            "django-whatsapp-login (page, webhook, 1 poll, complete, home)",
            lambda i: whatsapp_login(server.url, i, poll_interval=0.0),
        ),
        (
            "django-allauth login by code (form, email, code form, confirm, home)",
            lambda i: allauth_login(server.url, i, mail_dir),
        ),
        (
            "django-sesame magic link (form, email, link, home)",
            lambda i: sesame_login(server.url, i, mail_dir),
        ),
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


def run_load(server, logins: int, clients: int) -> dict:
    """`logins` complete logins by `clients` concurrent clients; each user logs in once."""
    cpu0 = server.cpu_seconds()
    start = time.perf_counter()
    errors: list[str] = []
    results = []
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

    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(one, range(1, logins + 1)))
    elapsed = time.perf_counter() - start
    cpu = server.cpu_seconds() - cpu0
    ok = [r for r in results if r["ok"] and r["rotated"]]
    wrong = [r for r in results if not r["ok"]]
    seen = sorted(r["seen_after"] for r in results if r["seen_after"] is not None)
    return {
        "logins": logins,
        "clients": clients,
        "workers": WORKERS,
        "completed": len(ok),
        "errors": len(errors),
        "wrong_user": len(wrong),
        "wall_s": elapsed,
        "logins_per_s": len(ok) / elapsed,
        "cpu_ms_per_login": 1000 * cpu / max(len(ok), 1),
        "polls_per_login": statistics.mean(r["polls"] for r in results) if results else 0,
        "seen_p50": statistics.median(seen) if seen else None,
        "seen_p95": seen[int(0.95 * len(seen)) - 1] if seen else None,
        "error_samples": errors[:3],
    }


# --- machine and report -----------------------------------------------------------------------


def machine() -> dict:
    cpu = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = int(Path("/proc/meminfo").read_text().split()[1]) // 1024 // 1024
    import django
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        pg = cursor.fetchone()[0]
    chromium = (
        subprocess.run(
            ["/usr/bin/chromium", "--version"], capture_output=True, text=True
        ).stdout.strip()
        if os.path.exists("/usr/bin/chromium")
        else "-"
    )
    import allauth
    import gunicorn
    import sesame

    return {
        "cpu": f"{cpu}, {os.cpu_count()} CPUs",
        "ram": f"{mem} GiB",
        "os": platform.platform(),
        "python": platform.python_version(),
        "django": django.get_version(),
        "postgresql": pg,
        "gunicorn": gunicorn.__version__,
        "allauth": allauth.__version__,
        "sesame": getattr(sesame, "__version__", "3.x"),
        "chromium": chromium,
    }


def report(results: dict, command: str) -> str:
    m = results["machine"]
    out = [
        "# Benchmarks",
        "",
        f"Generated by `{command}` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
        f"in {results['duration_s']:.0f} s.",
        "",
        "Machine: " + "; ".join(f"{k} {v}" for k, v in m.items()) + ".",
        "",
        f"Server: gunicorn, {WORKERS} sync workers, DEBUG off, PostgreSQL, database sessions, "
        "local-memory cache (the rate limits are raised out of the way but still counted). "
        "Load clients run on the same machine, so absolute numbers are low and shared with "
        "the clients; that is why every figure is a ratio against a baseline measured in the "
        "same run on the same server. The project is `benchmarks/benchsite` "
        "(django-whatsapp-login, django-allauth and django-sesame side by side, same "
        "middleware).",
        "",
    ]
    out += [
        "## Throughput (req/s, median of interleaved rounds)",
        "",
        "| endpoint | req/s | baseline | baseline req/s | ratio | target | server CPU/request "
        "(vs baseline) |",
        "|---|---:|---|---:|---:|---|---:|",
    ]
    for r in results["throughput"]:
        target = (
            f">= {r['target']}x: {'met' if r['ratio'] >= r['target'] else 'NOT met'}"
            if r["target"]
            else "-"
        )
        out.append(
            f"| {r['name']} | {r['rps']:.0f} | {r['baseline']} | {r['base_rps']:.0f} | "
            f"{r['ratio']:.2f}x | {target} | {r['cpu_ms']:.2f} ms "
            f"({r['cpu_ratio']:.2f}x) |"
        )
    out += [
        "",
        "## SQL queries per operation (CaptureQueriesContext, database sessions)",
        "",
        "Statements that read or write data; the second column also counts BEGIN, "
        "COMMIT and SAVEPOINT round trips. Database sessions: reading the session is one "
        "query, saving it one or more.",
        "",
        "| operation | queries | with transaction control |",
        "|---|---:|---:|",
    ]
    for r in results["queries"]:
        out.append(f"| {r['operation']} | {r['queries']} | {r['with_tx']} |")
    q = {r["operation"]: r["queries"] for r in results["queries"]}
    conf = q["webhook, confirming login message"]
    ign = q["webhook, ignored event (outgoingMessageStatus)"]
    out += [
        "",
        f"Targets: confirming webhook <= 5 queries: {conf} "
        f"({'met' if conf <= 5 else 'NOT met'}); ignored event 0: {ign} "
        f"({'met' if ign == 0 else 'NOT met'}).",
        "",
    ]
    res = results["resolver"]
    out += [
        "## Default resolver (PostgreSQL, indexed phone column)",
        "",
        "| users | p50 | p95 | miss p50 |",
        "|---:|---:|---:|---:|",
    ]
    for r in res:
        out.append(
            f"| {r['users']:,} | {r['p50_ms']:.3f} ms | {r['p95_ms']:.3f} ms | "
            f"{r['miss_p50_ms']:.3f} ms |"
        )
    ratio = res[-1]["p50_ms"] / res[0]["p50_ms"]
    out += [
        "",
        f"Latency ratio {res[-1]['users']:,}/{res[0]['users']:,} users (p50): "
        f"{ratio:.2f} (target <= 1.3: {'met' if ratio <= 1.3 else 'NOT met'}).",
        "",
    ]
    out += [
        "## Delivery to logged in, in Chromium",
        "",
        "From the webhook POST leaving the client to the browser committing the navigation "
        "to the logged-in page (the login itself is done by then). The message is sent at "
        "a random moment relative to the page's poll timer.",
        "",
        "| poll interval | samples | p50 | p95 | max | target p95 <= 1 s |",
        "|---:|---:|---:|---:|---:|---|",
    ]
    for r in results["browser"]:
        out.append(
            f"| {r['interval_ms']} ms | {r['n']} | {r['p50']:.3f} s | {r['p95']:.3f} s | "
            f"{r['max']:.3f} s | {'met' if r['p95'] <= 1.0 else 'NOT met'} |"
        )
    load = results["load"]
    out += [
        "",
        "## Load run (PostgreSQL, several workers)",
        "",
        f"{load['logins']} complete logins (page, WhatsApp webhook at a random moment, polls "
        f"every second, complete, logged-in page) by {load['clients']} concurrent clients "
        f"through {load['workers']} gunicorn workers, each user logging in once.",
        "",
        "| completed | errors | wrong user | wall time | logins/s | polls per login | "
        "server CPU per login | webhook to confirmed seen p50 / p95 |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| {load['completed']} | {load['errors']} | {load['wrong_user']} | "
        f"{load['wall_s']:.1f} s | {load['logins_per_s']:.1f} | "
        f"{load['polls_per_login']:.2f} | {load['cpu_ms_per_login']:.1f} ms | "
        f"{load['seen_p50']:.3f} s / {load['seen_p95']:.3f} s |",
        "",
    ]
    out += [
        "## Server CPU per completed login, against the peers",
        "",
        "Sequential flows (4 at a time), each ending on the logged-in page; CPU is user + "
        "system time of the gunicorn processes divided by the logins.",
        "",
        "| flow | logins | CPU per login | ratio to allauth | failed |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in results["cpu"]:
        out.append(
            f"| {r['flow']} | {r['n']} | {r['cpu_ms']:.1f} ms | {r['ratio']:.2f}x | {r['failed']} |"
        )
    out += ["", "## Targets", ""] + [f"- {line}" for line in results["targets"]]
    notes = HERE / "NOTES.md"
    if notes.exists():  # the closing note, written by a person after reading a run
        out += ["", notes.read_text().strip()]
    return "\n".join(out) + "\n"


def targets(results: dict) -> list[str]:
    t = {r["name"]: r for r in results["throughput"]}
    ign = t["webhook: ignored event (POST)"]
    st = t["status poll (GET /whatsapp/status/)"]
    q = {r["operation"]: r["queries"] for r in results["queries"]}
    res = results["resolver"]
    ratio = res[-1]["p50_ms"] / res[0]["p50_ms"]
    default = results["browser"][0]  # measured at the package's default interval
    cpu = results["cpu"]
    load = results["load"]

    def met(ok: bool) -> str:
        return "**met**" if ok else "**NOT met**"

    return [
        f"webhook (ignored event) >= 0.8x the bare view: {ign['ratio']:.2f}x, "
        f"{met(ign['ratio'] >= 0.8)}",
        f"status >= 0.85x the bare view that reads the session: {st['ratio']:.2f}x, "
        f"{met(st['ratio'] >= 0.85)}",
        f"confirming webhook <= 5 queries: {q['webhook, confirming login message']}, "
        f"{met(q['webhook, confirming login message'] <= 5)}",
        f"ignored event 0 queries: {q['webhook, ignored event (outgoingMessageStatus)']}, "
        f"{met(q['webhook, ignored event (outgoingMessageStatus)'] == 0)}",
        f"resolver 1M/1k <= 1.3: {ratio:.2f}, {met(ratio <= 1.3)}",
        f"delivery-to-logged-in p95 <= 1 s at the default {default['interval_ms']} ms poll "
        f"interval: {default['p95']:.3f} s, {met(default['p95'] <= 1.0)}",
        f"CPU per login no worse than allauth's login by code: {cpu[0]['ratio']:.2f}x, "
        f"{met(cpu[0]['ratio'] <= 1.0)}",
        f"load run: {load['completed']}/{load['logins']} logins, {load['errors']} errors, "
        f"{load['wrong_user']} logged in as the wrong user, "
        f"{met(load['completed'] >= 200 and load['errors'] == 0 and load['wrong_user'] == 0)}",
    ]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--resolver-child", nargs=3)
    parser.add_argument("--browser-child", nargs=4)
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="rewrite docs/benchmarks.md from test-artifacts/benchmarks.json",
    )
    opts = parser.parse_args()
    if opts.browser_child:
        base, port, interval, samples = opts.browser_child
        browser_child(base, int(port), int(interval), int(samples))
        return 0
    if opts.resolver_child:
        url, sizes, lookups = opts.resolver_child
        resolver_child(url, [int(s) for s in sizes.split(",")], int(lookups))
        return 0
    if opts.report_only:
        results = json.loads((ROOT / "test-artifacts" / "benchmarks.json").read_text())
        (ROOT / "docs" / "benchmarks.md").write_text(report(results, results["command"]))
        return 0
    ensure_venv()

    from tests.e2e.server import Database, GunicornServer

    started = time.perf_counter()
    pg = os.environ.get("DATABASE_URL", DEFAULT_PG)
    if not pg.startswith(("postgres://", "postgresql://")):
        print("benchmarks need PostgreSQL: set DATABASE_URL=postgres://...", file=sys.stderr)
        return 2
    db = Database(pg, prefix="wl_bench")
    rdb = Database(pg, prefix="wl_bench_resolver")
    mail_dir = Path(tempfile.mkdtemp(prefix="wl_bench_mail_"))
    servers = []
    results: dict = {"notes": []}
    try:
        url = db.create()
        setup_django(url)
        from django.contrib.auth import get_user_model
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        User = get_user_model()
        User.objects.bulk_create(
            [
                User(username=f"u{i}", email=f"u{i}@example.com", phone=phone_of(i), password="!")
                for i in range(1, USERS + 1)
            ]
        )
        results["machine"] = machine()
        logs = ROOT / "test-artifacts"
        logs.mkdir(exist_ok=True)
        server = GunicornServer(
            env=server_env(url, str(mail_dir)),
            chdir=HERE,
            wsgi="benchsite.wsgi:application",
            workers=WORKERS,
            python=sys.executable,
            log_path=logs / "bench-gunicorn.log",
        )
        server.start()
        servers.append(server)

        print("SQL queries per operation ...", flush=True)
        results["queries"] = run_queries()
        for r in results["queries"]:
            print(f"  {r['operation']}: {r['queries']} ({r['with_tx']} with transaction control)")

        print("Throughput ...", flush=True)
        results["throughput"] = run_throughput(server, opts.quick)

        print("Resolver at 1k, 100k, 1M users ...", flush=True)
        rurl = rdb.create()
        sizes = "1000,100000,1000000" if not opts.quick else "1000,100000"
        child = subprocess.run(
            [
                sys.executable,
                __file__,
                "--resolver-child",
                rurl,
                sizes,
                "1000" if opts.quick else "3000",
            ],
            capture_output=True,
            text=True,
        )
        if child.returncode != 0:
            raise RuntimeError(child.stderr)
        results["resolver"] = json.loads(child.stdout.strip().splitlines()[-1])
        rdb.drop()

        print("CPU per login against the peers ...", flush=True)
        results["cpu"] = run_cpu_per_login(server, mail_dir, 40 if opts.quick else 120)

        print("Load run ...", flush=True)
        results["load"] = run_load(server, 60 if opts.quick else 240, 24)
        print(f"  {json.dumps(results['load'])}", flush=True)

        print("Browser latency ...", flush=True)
        samples = 10 if opts.quick else 40
        # The package's default interval first (the target), then 1000 ms for comparison.
        from django_whatsapp_login.conf import app_settings as wl_settings

        default_ms = wl_settings.POLL_INTERVAL
        results["browser"] = [run_browser(server.url, server.port, default_ms, samples)]
        slow = GunicornServer(
            env=server_env(url, str(mail_dir), WHATSAPP_LOGIN_POLL_INTERVAL="1000"),
            chdir=HERE,
            wsgi="benchsite.wsgi:application",
            workers=WORKERS,
            python=sys.executable,
            log_path=logs / "bench-gunicorn-1000.log",
        )
        slow.start()
        servers.append(slow)
        results["browser"].append(run_browser(slow.url, slow.port, 1000, samples))
        for r in results["browser"]:
            print(f"  {r}", flush=True)
    finally:
        for s in servers:
            s.stop()
        from django.db import connections

        connections.close_all()
        db.drop()
        rdb.drop()
    results["duration_s"] = time.perf_counter() - started
    results["targets"] = targets(results)
    results["command"] = "python3 benchmarks/run.py" + (" --quick" if opts.quick else "")
    text = report(results, results["command"])
    print("\n" + text)
    (ROOT / "test-artifacts" / "benchmarks.json").write_text(json.dumps(results, indent=2))
    if not opts.no_write:
        (ROOT / "docs" / "benchmarks.md").write_text(text)
        print("Wrote docs/benchmarks.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
