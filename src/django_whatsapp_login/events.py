"""The push channel of the login page: ``whatsapp_login:events``, server-sent events.

Under ASGI the page opens one ``EventSource`` on this view instead of polling. The stream
sends the attempt's state at once (the same JSON as the ``status`` endpoint), then again
each time the attempt changes (``live.py`` wakes it), and ends when the state is final.
Every answer that is not a stream makes the page poll, which always works:

=====================  =====================================================
204                    push is off, or this is not an ASGI server (under WSGI
                       a stream would hold a worker thread for minutes)
404                    no attempt of this browser (the poll then restarts)
429 + ``Retry-After``  too many streams opened by this session or IP
                       (``WHATSAPP_LOGIN_RATE_LIMIT_EVENTS``), or too many
                       open at once for this session in this worker
                       (``WHATSAPP_LOGIN_LIVE_MAX_PER_SESSION``)
503 + ``Retry-After``  this worker holds ``WHATSAPP_LOGIN_LIVE_MAX_CONNECTIONS``
                       streams, or its notifier is down
=====================  =====================================================

An open stream is bounded too: a comment every ``WHATSAPP_LOGIN_LIVE_HEARTBEAT`` (which
also re-reads the state, so a lost notification costs at most one heartbeat), and after
``WHATSAPP_LOGIN_LIVE_TIMEOUT`` an ``event: reconnect`` and the end (the page opens a new
stream). ``event: poll`` (the notifier went away) sends the page back to polling.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.db import connections
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse

from . import attempts, live, poll, ratelimit, state
from .conf import app_settings
from .models import LoginAttempt, Status
from .views import CLIENT_KEY, status_answer

logger = logging.getLogger("django_whatsapp_login")

#: Statuses after which nothing changes for the page (the stream ends).
FINAL = frozenset({Status.EXPIRED.value, Status.REJECTED.value, "linked"})
#: How long the browser waits before reconnecting after an ``event: reconnect``.
RETRY_MS = 1000


def _is_final(code: int, data: dict[str, Any]) -> bool:
    return code != 200 or data.get("status") in FINAL


def _plain(
    status: int, retry_after: int | None = None, body: dict[str, Any] | None = None
) -> HttpResponse:
    response: HttpResponse = (
        JsonResponse(body, status=status) if body else HttpResponse(status=status)
    )
    response["Cache-Control"] = "no-store"
    if retry_after:
        response["Retry-After"] = str(retry_after)
    return response


def _client(request: HttpRequest, attempt_id: int) -> str:
    value = request.session.get(CLIENT_KEY)
    return value if isinstance(value, str) and value else f"attempt:{attempt_id}"


def _open(request: HttpRequest) -> tuple[int, dict[str, Any], int | None, str, int | None]:
    """The synchronous part of opening a stream (session, cache, rate limit): the status
    answer, the attempt id, the client key and a Retry-After when refused."""
    retry_after = ratelimit.hit(
        "events",
        app_settings.RATE_LIMIT_EVENTS,
        {"ip": ratelimit.client_ip(request), "session": request.session.get(CLIENT_KEY)},
    )
    if retry_after:
        return 429, {}, None, "", retry_after
    attempt = poll.session_attempt(request)
    code, data = status_answer(request, attempt)
    attempt_id = attempts.session_attempt_id(request) if attempt is not None else None
    return code, data, attempt_id, _client(request, attempt_id or 0), None


def _refresh(request: HttpRequest, attempt_id: int) -> tuple[int, dict[str, Any]]:
    """The state after a wake-up or a heartbeat: the cache, else the row (the binding was
    checked when the stream opened; the stream only ever reads this one attempt)."""
    attempt = state.load(attempt_id) if state.enabled() else None
    if attempt is None:
        attempt = LoginAttempt.objects.filter(pk=attempt_id).first()
    return status_answer(request, attempt)


def _briefly(function: Any, *, thread_sensitive: bool = True) -> Any:
    """``function`` in the request's thread, giving its database connection back at once.

    Django's ASGI handler gives each request its own thread until the response ends, and
    the thread keeps its connection (``CONN_MAX_AGE``) that long: for a stream, minutes. With
    thousands of waiting pages that would be thousands of database connections, so each
    short synchronous step closes the connection it opened.
    """

    def run(*args: Any) -> Any:
        try:
            return function(*args)
        finally:
            connections.close_all()

    return sync_to_async(run, thread_sensitive=thread_sensitive)


def _event(data: dict[str, Any]) -> str:
    return "data: " + json.dumps(data, separators=(",", ":")) + "\n\n"


async def events(request: HttpRequest) -> HttpResponse | StreamingHttpResponse:
    """Server-sent events for this session's attempt (see the module docstring)."""
    if request.method != "GET":
        response = _plain(405)
        response["Allow"] = "GET"
        return response
    if not app_settings.LIVE or not isinstance(request, ASGIRequest):
        return _plain(204)
    if live.HUB.count >= app_settings.LIVE_MAX_CONNECTIONS:
        return _plain(503, 5)
    code, data, attempt_id, client, retry_after = await _briefly(_open)(request)
    if retry_after:
        return _plain(429, retry_after)
    if code != 200 or attempt_id is None:
        return _plain(code, body=data)
    if live.HUB.client_count(client) >= app_settings.LIVE_MAX_PER_SESSION:
        return _plain(429, RETRY_MS // 1000 + 1)
    if _is_final(code, data):
        # Nothing will change: one event, and the browser has its answer.
        return _stream_response(request, attempt_id, client, data, wait=False)
    if not await live.notifier().ready():
        return _plain(503, int(live.RECONNECT_AFTER))
    return _stream_response(request, attempt_id, client, data, wait=True)


def _stream_response(
    request: HttpRequest, attempt_id: int, client: str, first: dict[str, Any], *, wait: bool
) -> StreamingHttpResponse:
    response = StreamingHttpResponse(
        _stream(request, attempt_id, client, first, wait=wait),
        content_type="text/event-stream; charset=utf-8",
    )
    response["Cache-Control"] = "no-store"
    # nginx buffers proxied responses unless told not to, which would hold every event.
    response["X-Accel-Buffering"] = "no"
    return response


async def _stream(
    request: HttpRequest, attempt_id: int, client: str, first: dict[str, Any], *, wait: bool
) -> Any:
    yield f"retry: {RETRY_MS}\n\n" + _event(first)
    if not wait:
        return
    waiter = live.Waiter(attempt_id, client)
    live.HUB.add(waiter)
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + app_settings.LIVE_TIMEOUT.total_seconds()
        heartbeat = app_settings.LIVE_HEARTBEAT.total_seconds()
        last = first
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                yield "event: reconnect\ndata: {}\n\n"
                return
            woken = await waiter.wait(min(heartbeat, remaining))
            if waiter.fallback:
                yield "event: poll\ndata: {}\n\n"
                return
            # In the loop's shared thread pool rather than the request's own thread: with
            # thousands of streams, each heartbeat would otherwise wake a different thread.
            # _refresh reads one cache key (or row) and keeps nothing between calls.
            code, data = await _briefly(_refresh, thread_sensitive=False)(request, attempt_id)
            if code != 200:
                yield "event: poll\ndata: {}\n\n"  # gone: the poll says what happened
                return
            if data != last:
                last = data
                yield _event(data)
                if _is_final(code, data):
                    return
            elif not woken:
                yield ": ping\n\n"
    finally:
        live.HUB.remove(waiter)
