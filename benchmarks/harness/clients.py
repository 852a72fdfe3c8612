"""Load clients: request rates against a server, and complete logins as a browser (and
WhatsApp, or a mailbox) would do them, over HTTP."""

from __future__ import annotations

import http.client
import json
import re
import time
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from . import TOKEN
from .payloads import WEBHOOK_PATH, incoming, phone_of

WEBHOOK_HEADERS = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}


def answer_ok(status: int, body: bytes, expect: str | None) -> bool:
    """A 2xx, and when ``expect`` is given, a JSON answer whose ``status`` is ``expect``.

    A webhook answers 200 to a message it ignores too: only ``{"status": "confirmed"}``
    counts as a confirmation.
    """
    if not 200 <= status < 300:
        return False
    if expect is None:
        return True
    try:
        data = json.loads(body)
    except ValueError:
        return False
    return isinstance(data, dict) and data.get("status") == expect


def hammer(args: tuple[Any, ...]) -> tuple[int, int]:
    """One client: requests back to back until ``duration`` passes (or bodies run out).

    Runs in a child process; returns (accepted answers, other answers or errors).
    """
    port, method, path, headers, bodies, duration, expect = args
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
            if answer_ok(response.status, response.read(), expect):
                done += 1
            else:
                errors += 1
        except OSError:
            errors += 1
        finally:
            conn.close()
    return done, errors


def throughput(
    server: Any,
    method: str,
    path: str,
    *,
    clients: int,
    duration: float,
    headers: dict[str, str] | None = None,
    bodies: list[bytes] | None = None,
    per_client_headers: list[dict[str, str]] | None = None,
    expect: str | None = None,
) -> dict[str, float]:
    """Accepted requests per second and server CPU ms per request over ``duration`` s.

    ``expect``: the JSON ``status`` an answer must carry to count (see :func:`answer_ok`).
    """
    ctx = get_context("fork")
    jobs = []
    for i in range(clients):
        h = dict(headers or {})
        if per_client_headers:
            h.update(per_client_headers[i])
        b = bodies[i::clients] if bodies is not None else None
        jobs.append((server.port, method, path, h, b, duration, expect))
    cpu0 = server.cpu_seconds()
    start = time.perf_counter()
    with ctx.Pool(clients) as pool:
        results = pool.map(hammer, jobs)
    elapsed = time.perf_counter() - start
    cpu = server.cpu_seconds() - cpu0
    done = sum(r[0] for r in results)
    errors = sum(r[1] for r in results)
    return {"rps": done / elapsed, "cpu_ms": 1000 * cpu / max(done, 1), "n": done, "errors": errors}


def session_cookie(server: Any) -> str:
    """A fresh browser session with a live attempt (GET /login), as a Cookie header."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    conn.request("GET", "/login")
    response = conn.getresponse()
    response.read()
    cookies = [h.split(";", 1)[0] for k, h in response.getheaders() if k.lower() == "set-cookie"]
    conn.close()
    return "; ".join(cookies)


def _cookie(session: Any, name: str) -> str:
    return str(session.cookies.get(name, ""))


MESSAGE_RE = re.compile(r"data-wl-message>([^<]+)<")


def whatsapp_login(
    base: str, user_index: int, poll_interval: float = 1.0, send_after: float = 0.0
) -> dict[str, Any]:
    """One complete login: page, the WhatsApp message (webhook), polls, complete, home."""
    import requests

    s = requests.Session()
    page = s.get(base + "/login", timeout=30)
    page.raise_for_status()
    found = MESSAGE_RE.search(page.text)
    if found is None:
        raise RuntimeError("login page: no data-wl-message in the page")
    message = found.group(1).strip()
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
                base + WEBHOOK_PATH,
                data=incoming(message, phone_of(user_index)),
                headers=WEBHOOK_HEADERS,
                timeout=30,
            )
            if not answer_ok(r.status_code, r.content, "confirmed"):
                raise RuntimeError(f"webhook: {r.status_code} {r.text[:200]}")
            sent_at = time.monotonic()
            continue
        r = s.get(base + "/whatsapp/status/", headers={"Accept": "application/json"}, timeout=30)
        polls += 1
        if r.status_code != 200:
            raise RuntimeError(f"status: {r.status_code} {r.text[:200]}")
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
        raise RuntimeError(f"complete: {r.status_code} {r.text[:200]}")
    home = s.get(base + r.json()["redirect"], timeout=30)
    return {
        "ok": home.status_code == 200 and home.text == f"Hello u{user_index}",
        "body": home.text[:60],
        "polls": polls,
        "rotated": _cookie(s, "sessionid") != old_session,
        "seen_after": (confirmed_seen - sent_at) if sent_at else None,
    }


def allauth_login(base: str, user_index: int, mail_dir: Path) -> dict[str, Any]:
    """django-allauth's login by code: form, the code by email, code form, home."""
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


def sesame_login(base: str, user_index: int, mail_dir: Path) -> dict[str, Any]:
    """django-sesame's magic link: form, the link by email, home."""
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
    link = re.search(r"(http\S+)", inbox.read_text())
    if link is None:
        raise RuntimeError("sesame: no link in the email")
    r = s.get(link.group(1), timeout=30)
    return {"ok": r.status_code == 200 and r.text == f"Hello u{user_index}", "body": r.text[:60]}


def compare(
    name: str,
    subject: Any,
    baseline: Any,
    base_name: str,
    rounds: int,
    target: float | None = None,
) -> dict[str, Any]:
    """``subject()`` against ``baseline()`` (each returns :func:`throughput`'s dict),
    interleaved ``rounds`` times so that drift hits both sides alike; medians."""
    import statistics

    subj, base = [], []
    for _ in range(rounds):
        base.append(baseline())
        subj.append(subject())
    s_rps = statistics.median(r["rps"] for r in subj)
    b_rps = statistics.median(r["rps"] for r in base)
    s_cpu = statistics.median(r["cpu_ms"] for r in subj)
    b_cpu = statistics.median(r["cpu_ms"] for r in base)
    if not (s_rps and b_rps):
        raise RuntimeError(f"{name}: no accepted answers (subject {s_rps}, baseline {b_rps} req/s)")
    errors = sum(int(r["errors"]) for r in subj + base)
    row = {
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
    print(
        f"  {name}: {s_rps:.0f} req/s vs {b_rps:.0f} ({s_rps / b_rps:.2f}x); "
        f"CPU {s_cpu:.2f} ms vs {b_cpu:.2f} ms; errors {errors}",
        flush=True,
    )
    return row


def throughput_table(rows: list[dict[str, Any]]) -> list[str]:
    """The Markdown table of :func:`compare` rows."""
    out = [
        "| endpoint | req/s | baseline | baseline req/s | ratio | target | server CPU/request "
        "(vs baseline) | errors |",
        "|---|---:|---|---:|---:|---|---:|---:|",
    ]
    for r in rows:
        target = "-"
        if r["target"]:
            target = f">= {r['target']}x: {'met' if r['ratio'] >= r['target'] else 'NOT met'}"
        out.append(
            f"| {r['name']} | {r['rps']:.0f} | {r['baseline']} | {r['base_rps']:.0f} | "
            f"{r['ratio']:.2f}x | {target} | {r['cpu_ms']:.2f} ms ({r['cpu_ratio']:.2f}x) | "
            f"{r['errors']} |"
        )
    return out
