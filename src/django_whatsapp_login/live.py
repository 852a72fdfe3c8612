"""Telling waiting pages that their attempt changed: the cached state and the push channel.

:func:`publish` runs after every committed change of an attempt (``attempts.py`` calls it
through ``transaction.on_commit``). It writes the attempt's public state to the shared
cache (``state.py``), which the status poll reads instead of the row, and then wakes the
event streams (``events.py``) waiting for that attempt, in whichever worker process holds
them, through the notifier chosen by ``WHATSAPP_LOGIN_LIVE``:

``""`` (the default)
    No push: the page polls, as it always did. The default because the channel needs an
    ASGI server and a proxy that does not buffer (docs/live.md); switching it on where
    either is missing only costs each page one refused request before it polls.
``"inprocess"``
    Wakes streams in this process only: one ASGI worker that also receives the webhook.
``"redis"``
    Redis pub/sub (``PUBLISH`` with redis-py; every worker holds one ``SUBSCRIBE``
    connection through ``redis.asyncio``).
``"postgres"``
    PostgreSQL ``NOTIFY`` on Django's connection; every worker holds one ``LISTEN``
    connection through psycopg 3's ``AsyncConnection``.

A notification carries only the attempt id: a stream that wakes re-reads the state (the
cache, else the row), so a forged, lost or duplicated notification can never show a
state that is not committed. A lost one only delays the page until the stream's next
heartbeat re-read; a broker that goes away ends the streams with an ``event: poll`` and
the pages poll.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any

from django.core import checks

from . import state
from .conf import app_settings
from .models import LoginAttempt

logger = logging.getLogger("django_whatsapp_login")

MODES = ("", "inprocess", "redis", "postgres")
#: After a broker failure, how long streams are refused (503) before reconnecting.
RECONNECT_AFTER = 5.0


def publish(attempt: LoginAttempt) -> None:
    """The change to ``attempt`` has committed: update the cached state, then wake the
    streams waiting for it.

    Never raises: the change is already committed, and a webhook or a login must not fail
    because the cache or the broker is down (pages then learn it by polling).
    """
    try:
        state.store(attempt)
    except Exception:
        logger.exception("Could not publish login attempt %s", attempt.pk)
    if not app_settings.LIVE:
        return
    try:
        notifier().notify(attempt.pk)
    except Exception:
        logger.exception("Could not notify the waiting pages of login attempt %s", attempt.pk)


# --- the streams waiting in this process ----------------------------------------------


class Waiter:
    """One open event stream, waiting for its attempt; woken from any thread.

    Waits on a bare future with a ``call_later`` timer: no task per wait (thousands of
    streams each waiting for a heartbeat would otherwise each hold a task and a timer).
    """

    __slots__ = ("_future", "_woken", "attempt_id", "client", "closed", "fallback", "loop")

    def __init__(self, attempt_id: int, client: str) -> None:
        self.attempt_id = attempt_id
        self.client = client
        self.loop = asyncio.get_running_loop()
        self.fallback = False
        self.closed = False
        self._future: asyncio.Future[bool] | None = None
        self._woken = False

    def wake(self) -> None:
        """Wake the stream (thread-safe)."""
        try:
            self.loop.call_soon_threadsafe(self._set)
        except RuntimeError:  # the loop has closed: the stream is gone anyway
            pass

    def close(self) -> None:
        """The client went away (call in the loop's thread)."""
        self.closed = True
        self._set()

    def _set(self) -> None:
        self._woken = True
        future = self._future
        if future is not None and not future.done():
            future.set_result(True)

    async def wait(self, timeout: float) -> bool:
        """True when woken, False when ``timeout`` passed first."""
        if not self._woken:
            future = self._future = self.loop.create_future()
            timer = self.loop.call_later(timeout, _time_out, future)
            try:
                await future
            finally:
                timer.cancel()
                self._future = None
        woken, self._woken = self._woken, False
        return woken


def _time_out(future: asyncio.Future[bool]) -> None:
    if not future.done():
        future.set_result(False)


class Hub:
    """The open streams of this process, by attempt id and by client (session)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_attempt: dict[int, set[Waiter]] = {}
        self._by_client: dict[str, int] = {}
        self._count = 0

    @property
    def count(self) -> int:
        return self._count

    def client_count(self, client: str) -> int:
        return self._by_client.get(client, 0)

    def add(self, waiter: Waiter) -> None:
        with self._lock:
            self._by_attempt.setdefault(waiter.attempt_id, set()).add(waiter)
            self._by_client[waiter.client] = self._by_client.get(waiter.client, 0) + 1
            self._count += 1

    def remove(self, waiter: Waiter) -> None:
        with self._lock:
            waiters = self._by_attempt.get(waiter.attempt_id)
            if waiters is None or waiter not in waiters:
                return
            waiters.discard(waiter)
            if not waiters:
                del self._by_attempt[waiter.attempt_id]
            left = self._by_client.get(waiter.client, 0) - 1
            if left > 0:
                self._by_client[waiter.client] = left
            else:
                self._by_client.pop(waiter.client, None)
            self._count -= 1

    def wake(self, attempt_id: int) -> int:
        """Wake every stream of ``attempt_id`` (thread-safe). Returns how many."""
        with self._lock:
            waiters = list(self._by_attempt.get(attempt_id, ()))
        for waiter in waiters:
            waiter.wake()
        return len(waiters)

    def fall_back(self) -> None:
        """The notifications stopped: tell every stream to send its page to polling."""
        with self._lock:
            waiters = [w for group in self._by_attempt.values() for w in group]
        for waiter in waiters:
            waiter.fallback = True
            waiter.wake()


HUB = Hub()


# --- notifiers ------------------------------------------------------------------------


class Notifier:
    """Carries "attempt N changed" from whichever process committed it to every worker."""

    def notify(self, attempt_id: int) -> None:
        raise NotImplementedError

    async def ready(self) -> bool:
        """Can streams opened now be woken? Starts this process's listener if needed."""
        return True


class InProcessNotifier(Notifier):
    def notify(self, attempt_id: int) -> None:
        HUB.wake(attempt_id)


class ListeningNotifier(Notifier):
    """A notifier whose workers each hold one listening connection (Redis, PostgreSQL):
    started by the first stream of the process, restarted after a failure."""

    def __init__(self) -> None:
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._started: asyncio.Event | None = None
        self._healthy = False
        self._failed_at = 0.0

    async def ready(self) -> bool:
        loop = asyncio.get_running_loop()
        running = self._task is not None and not self._task.done() and self._loop is loop
        if not running:
            if time.monotonic() - self._failed_at < RECONNECT_AFTER:
                return False
            self._loop = loop
            self._started = asyncio.Event()
            self._task = loop.create_task(self._run(self._started))
        started = self._started
        if started is not None and not started.is_set():
            # Every stream opened while the listener connects waits for the same outcome.
            try:
                await asyncio.wait_for(started.wait(), 3)
            except asyncio.TimeoutError:
                logger.warning("The live channel's listener did not connect within 3 s")
        return self._healthy

    async def _run(self, listening: asyncio.Event) -> None:
        try:
            await self.listen(listening)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("The live channel's listener stopped: pages fall back to polling")
        finally:
            self._healthy = False
            self._failed_at = time.monotonic()
            listening.set()
            HUB.fall_back()

    def _listening(self, listening: asyncio.Event) -> None:
        self._healthy = True
        listening.set()

    async def listen(self, listening: asyncio.Event) -> None:
        raise NotImplementedError


def _redis_url() -> str:
    url = app_settings.LIVE_REDIS_URL
    if url:
        return url
    from django.conf import settings

    default = getattr(settings, "CACHES", {}).get("default", {})
    location = default.get("LOCATION", "")
    if "redis" in str(default.get("BACKEND", "")).lower() and location:
        return str(location[0] if isinstance(location, (list, tuple)) else location)
    return ""


class RedisNotifier(ListeningNotifier):
    def __init__(self, url: str, channel: str) -> None:
        super().__init__()
        self.url = url
        self.channel = channel
        self._client: Any = None
        self._client_lock = threading.Lock()

    def notify(self, attempt_id: int) -> None:
        if self._client is None:
            import redis

            with self._client_lock:
                if self._client is None:
                    self._client = redis.Redis.from_url(
                        self.url, socket_timeout=2, socket_connect_timeout=2
                    )
        self._client.publish(self.channel, str(attempt_id))

    async def listen(self, listening: asyncio.Event) -> None:
        import redis.asyncio

        client = redis.asyncio.Redis.from_url(
            self.url, socket_connect_timeout=2, health_check_interval=10
        )
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(self.channel)
            self._listening(listening)
            async for message in pubsub.listen():
                _wake_from(message.get("data"))
        finally:
            await pubsub.aclose()  # type: ignore[no-untyped-call]
            await client.aclose()


class PostgresNotifier(ListeningNotifier):
    def __init__(self, channel: str) -> None:
        super().__init__()
        self.channel = channel

    def notify(self, attempt_id: int) -> None:
        from django.db import connection

        # pg_notify rather than NOTIFY: the channel and payload are parameters.
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_notify(%s, %s)", [self.channel, str(attempt_id)])

    async def listen(self, listening: asyncio.Event) -> None:
        import psycopg
        from psycopg import sql

        conn = await psycopg.AsyncConnection.connect(_postgres_conninfo(), autocommit=True)
        try:
            await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.channel)))
            self._listening(listening)
            async for notify in conn.notifies():
                _wake_from(notify.payload)
        finally:
            await conn.close()


def _postgres_conninfo() -> str:
    from django.conf import settings
    from psycopg.conninfo import make_conninfo

    db = settings.DATABASES["default"]
    params = {
        "dbname": db.get("NAME") or None,
        "user": db.get("USER") or None,
        "password": db.get("PASSWORD") or None,
        "host": db.get("HOST") or None,
        "port": str(db["PORT"]) if db.get("PORT") else None,
        "connect_timeout": 3,
    }
    return make_conninfo("", **{key: value for key, value in params.items() if value is not None})


def _wake_from(data: Any) -> None:
    if isinstance(data, bytes):
        data = data.decode("ascii", "replace")
    try:
        attempt_id = int(data)
    except (TypeError, ValueError):
        return  # not ours; a wake-up only triggers a re-read anyway
    HUB.wake(attempt_id)


_notifiers: dict[tuple[str, str, str], Notifier] = {}
_notifiers_lock = threading.Lock()


def notifier() -> Notifier:
    """This process's notifier for the current ``WHATSAPP_LOGIN_LIVE`` (one per setting)."""
    mode = app_settings.LIVE
    channel = app_settings.LIVE_CHANNEL
    url = _redis_url() if mode == "redis" else ""
    key = (mode, channel, url)
    found = _notifiers.get(key)
    if found is not None:
        return found
    with _notifiers_lock:
        found = _notifiers.get(key)
        if found is None:
            if mode == "redis":
                found = RedisNotifier(url, channel)
            elif mode == "postgres":
                found = PostgresNotifier(channel)
            else:
                found = InProcessNotifier()
            _notifiers[key] = found
    return found


# --- system checks --------------------------------------------------------------------


@checks.register()
def check_live(**kwargs: Any) -> list[checks.CheckMessage]:
    """E030 ... E032: a push channel that cannot work."""
    from django.conf import settings

    mode = app_settings.LIVE
    if mode not in MODES:
        return [
            checks.Error(
                f"WHATSAPP_LOGIN_LIVE is {mode!r}.",
                hint='Use "" (off), "inprocess", "redis" or "postgres".',
                id="whatsapp_login.E030",
            )
        ]
    if mode == "redis" and not _redis_url():
        return [
            checks.Error(
                'WHATSAPP_LOGIN_LIVE = "redis" but no Redis URL is known.',
                hint="Set WHATSAPP_LOGIN_LIVE_REDIS_URL, or use Django's Redis cache as "
                "the default cache.",
                id="whatsapp_login.E031",
            )
        ]
    if mode == "postgres" and "postgresql" not in settings.DATABASES["default"].get("ENGINE", ""):
        return [
            checks.Error(
                'WHATSAPP_LOGIN_LIVE = "postgres" but the default database is not PostgreSQL.',
                hint='Use "redis" or "inprocess", or a PostgreSQL default database.',
                id="whatsapp_login.E032",
            )
        ]
    return []
