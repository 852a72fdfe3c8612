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

Two front doors share everything below: the Django view :func:`events` and the lean ASGI
wrapper ``django_whatsapp_login.asgi.live_events`` (no Django request machinery per held
connection). Both call :func:`open_stream` (every refusal above) and :func:`stream` (the
events); a woken stream re-reads its attempt through this loop's :class:`Reader`, which
reads the attempts of many woken streams in one thread hop and one query.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.handlers.asgi import ASGIRequest
from django.db import close_old_connections, connections
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.utils import translation

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


def _briefly(function: Any, *, thread_sensitive: bool = True) -> Any:
    """``function`` in the request's thread, giving its database connection back at once.

    Django's ASGI handler gives each request its own thread until the response ends, and
    the thread keeps its connection (``CONN_MAX_AGE``) that long: for a stream, minutes. With
    thousands of waiting pages that would be thousands of database connections, so each
    short synchronous step closes the connection it opened.

    With ``thread_sensitive=False`` the step runs in the event loop's shared thread pool
    (a few threads, whatever the number of streams), each thread in a context of its own
    that it keeps: what a step makes there (Django's cache handler keeps one cache
    instance, and with it a Redis client, per context) stays with the pool thread instead
    of with each waiting stream. The language is passed on; each thread keeps its database
    connection as ``CONN_MAX_AGE`` says (``close_old_connections`` before and after, as
    around a request), so at most one connection per pool thread stays open.
    """

    def run(*args: Any) -> Any:
        try:
            return function(*args)
        finally:
            connections.close_all()

    if thread_sensitive:
        return sync_to_async(run, thread_sensitive=True)

    async def pooled(*args: Any) -> Any:
        language = translation.get_language()
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, _in_pool, function, language, args)

    return pooled


_pool = threading.local()


def _in_pool(function: Any, language: str | None, args: tuple[Any, ...]) -> Any:
    """``function(*args)`` in this pool thread's own context (see :func:`_briefly`)."""
    context = getattr(_pool, "context", None)
    if context is None:
        context = _pool.context = contextvars.Context()
    return context.run(_pooled_step, function, language, args)


def _pooled_step(function: Any, language: str | None, args: tuple[Any, ...]) -> Any:
    close_old_connections()
    try:
        if language:
            with translation.override(language):
                return function(*args)
        return function(*args)
    finally:
        close_old_connections()


def _event(data: dict[str, Any]) -> str:
    return "data: " + json.dumps(data, separators=(",", ":")) + "\n\n"


#: The headers of an event stream (both front doors send these).
STREAM_HEADERS = (
    ("Content-Type", "text/event-stream; charset=utf-8"),
    ("Cache-Control", "no-store"),
    # nginx buffers proxied responses unless told not to, which would hold every event.
    ("X-Accel-Buffering", "no"),
)


@dataclass(frozen=True)
class Opened:
    """A stream that may start: its attempt, its client key and the first state."""

    attempt_id: int
    client: str
    first: dict[str, Any]
    wait: bool


def refusal(method: str) -> HttpResponse | None:
    """The answers that need neither the session nor the broker: 405, 204."""
    if method != "GET":
        response = _plain(405)
        response["Allow"] = "GET"
        return response
    if not app_settings.LIVE:
        return _plain(204)
    return None


async def open_stream(
    request: HttpRequest, *, thread_sensitive: bool = True
) -> HttpResponse | Opened:
    """Every rule for opening a stream (see the module docstring): a plain answer
    (404, 429, 503, ...) or an :class:`Opened` stream. ``request`` has ``session`` and
    ``COOKIES``; the session is read in a thread (``thread_sensitive`` as for
    :func:`sync_to_async`)."""
    if live.HUB.count >= app_settings.LIVE_MAX_CONNECTIONS:
        return _plain(503, 5)
    code, data, attempt_id, client, retry_after = await _briefly(
        _open, thread_sensitive=thread_sensitive
    )(request)
    if retry_after:
        return _plain(429, retry_after)
    if code != 200 or attempt_id is None:
        return _plain(code, body=data)
    if live.HUB.client_count(client) >= app_settings.LIVE_MAX_PER_SESSION:
        return _plain(429, RETRY_MS // 1000 + 1)
    if _is_final(code, data):
        # Nothing will change: one event, and the browser has its answer.
        return Opened(attempt_id, client, data, wait=False)
    if not await live.notifier().ready():
        return _plain(503, int(live.RECONNECT_AFTER))
    return Opened(attempt_id, client, data, wait=True)


async def events(request: HttpRequest) -> HttpResponse | StreamingHttpResponse:
    """Server-sent events for this session's attempt (see the module docstring)."""
    refused = refusal(request.method or "")
    if refused is not None:
        return refused
    if not isinstance(request, ASGIRequest):
        return _plain(204)
    opened = await open_stream(request)
    if isinstance(opened, HttpResponse):
        return opened
    response = StreamingHttpResponse(stream(request, opened))
    for name, value in STREAM_HEADERS:
        response[name] = value
    return response


class Leave:
    """Set when the client of a stream went away: the stream ends at once."""

    __slots__ = ("left", "waiter")

    def __init__(self) -> None:
        self.left = False
        self.waiter: live.Waiter | None = None

    def set(self) -> None:
        self.left = True
        if self.waiter is not None:
            self.waiter.close()


async def stream(
    request: HttpRequest, opened: Opened, leave: Leave | None = None
) -> AsyncIterator[str]:
    """The events of an opened stream, until a final state, the timeout, a fallback to
    polling, or (with ``leave``) the client's leave."""
    yield f"retry: {RETRY_MS}\n\n" + _event(opened.first)
    if not opened.wait:
        return
    waiter = live.Waiter(opened.attempt_id, opened.client)
    if leave is not None:
        leave.waiter = waiter
        if leave.left:
            return
    live.HUB.add(waiter)
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + app_settings.LIVE_TIMEOUT.total_seconds()
        heartbeat = app_settings.LIVE_HEARTBEAT.total_seconds()
        last = opened.first
        read = reader()
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                yield "event: reconnect\ndata: {}\n\n"
                return
            woken = await waiter.wait(min(heartbeat, remaining))
            if waiter.closed:
                return
            if waiter.fallback:
                yield "event: poll\ndata: {}\n\n"
                return
            try:
                code, data = await read.read(request, opened.attempt_id)
            except Exception:
                # The database or the cache failed for this batch: the page polls, which
                # answers on its own (never a stream that ends without a word).
                logger.exception("Could not re-read login attempt %s", opened.attempt_id)
                yield "event: poll\ndata: {}\n\n"
                return
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


# --- re-reading the attempts of woken streams, many at a time --------------------------

#: At most this many attempts per query; at most this many batches in flight per loop.
BATCH_SIZE = 500
BATCHES_IN_FLIGHT = 4


class Reader:
    """Re-reads attempts for the streams of one event loop, batched.

    A stream that wakes asks for its attempt's state; every request made while the
    batches in flight run joins the next batch, which reads the cached states and then,
    for the attempts the cache does not have, the rows in one query, all in one trip to
    a worker thread (the loop's default pool: no thread per stream).
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._queue: list[tuple[HttpRequest, int, asyncio.Future[tuple[int, dict[str, Any]]]]] = []
        self._running = 0
        self._scheduled = False
        self._tasks: set[asyncio.Task[None]] = set()

    async def read(self, request: HttpRequest, attempt_id: int) -> tuple[int, dict[str, Any]]:
        future: asyncio.Future[tuple[int, dict[str, Any]]] = self.loop.create_future()
        self._queue.append((request, attempt_id, future))
        self._schedule()
        return await future

    def _schedule(self) -> None:
        if self._queue and not self._scheduled and self._running < BATCHES_IN_FLIGHT:
            # On the next turn of the loop, so that streams woken together read together.
            self._scheduled = True
            self.loop.call_soon(self._start)

    def _start(self) -> None:
        self._scheduled = False
        while self._queue and self._running < BATCHES_IN_FLIGHT:
            batch, self._queue = self._queue[:BATCH_SIZE], self._queue[BATCH_SIZE:]
            self._running += 1
            task = self.loop.create_task(self._run(batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _run(self, batch: list[Any]) -> None:
        try:
            answers = await _briefly(read_many, thread_sensitive=False)(
                [(request, attempt_id) for request, attempt_id, _future in batch]
            )
        except Exception as error:
            for _request, _attempt_id, future in batch:
                if not future.done():
                    future.set_exception(error)
        else:
            for (_request, _attempt_id, future), answer in zip(batch, answers, strict=True):
                if not future.done():
                    future.set_result(answer)
        finally:
            self._running -= 1
            self._schedule()


_readers: dict[asyncio.AbstractEventLoop, Reader] = {}


def reader() -> Reader:
    """The :class:`Reader` of the running loop."""
    loop = asyncio.get_running_loop()
    found = _readers.get(loop)
    if found is None:
        for old in [key for key in _readers if key.is_closed()]:
            del _readers[old]
        found = _readers[loop] = Reader(loop)
    return found


def read_many(items: list[tuple[HttpRequest, int]]) -> list[tuple[int, dict[str, Any]]]:
    """The status answers for ``(request, attempt id)`` pairs: the cached states, then the
    rows the cache does not have in one query. The binding was checked when each stream
    opened; a stream only ever reads its own attempt."""
    ids = {attempt_id for _request, attempt_id in items}
    found: dict[int, LoginAttempt] = state.load_many(ids) if state.enabled() else {}
    missing = ids - found.keys()
    if missing:
        found.update(LoginAttempt.objects.in_bulk(missing))
    answers = []
    for request, attempt_id in items:
        language = getattr(request, "LANGUAGE_CODE", None) or settings.LANGUAGE_CODE
        with translation.override(language):
            answers.append(status_answer(request, found.get(attempt_id)))
    return answers
