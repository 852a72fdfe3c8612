"""The push channel's parts (live.py) that the server tests reach only on some set-ups, or
only by luck of timing: a listener's life cycle (connecting, up, failed, cancelled), the
PostgreSQL listener and notifier against a stand-in connection, the notifier registry,
and publish() when the cache write fails. Every wait here is on an event, never a sleep."""

from __future__ import annotations

import asyncio
import logging
from types import SimpleNamespace

import pytest

from django_whatsapp_login import live, state


def run(coroutine):
    return asyncio.run(coroutine)


@pytest.fixture
def hub(monkeypatch):
    """A hub of its own, so no stream of another test is woken or sent to polling."""
    fresh = live.Hub()
    monkeypatch.setattr(live, "HUB", fresh)
    return fresh


@pytest.fixture
def no_notifiers(monkeypatch):
    """An empty registry of notifiers, so a test's setting never leaks into another."""
    registry: dict = {}
    monkeypatch.setattr(live, "_notifiers", registry)
    return registry


class Lost:
    """A lock stand-in that lets ``won`` run as the thread that got there first: the
    double-checked creation must then use what that thread made."""

    def __init__(self, won):
        self.won = won

    def __enter__(self):
        self.won()
        return self

    def __exit__(self, *exc):
        return False


# --- publish --------------------------------------------------------------------------


def test_a_failed_cache_write_is_logged_and_the_streams_are_still_woken(
    settings, monkeypatch, hub, no_notifiers, caplog
):
    settings.WHATSAPP_LOGIN_LIVE = "inprocess"

    def broken(attempt):
        raise ConnectionError("cache down")

    monkeypatch.setattr(state, "store", broken)

    async def scenario():
        waiter = live.Waiter(5, "session")
        hub.add(waiter)
        with caplog.at_level(logging.ERROR, logger="django_whatsapp_login"):
            live.publish(SimpleNamespace(pk=5))  # never raises
        return await waiter.wait(30)

    assert run(scenario()) is True
    assert "Could not publish login attempt 5" in caplog.text


def test_with_the_channel_off_publish_only_writes_the_cache(
    settings, monkeypatch, hub, no_notifiers
):
    settings.WHATSAPP_LOGIN_LIVE = ""
    stored: list[int] = []
    monkeypatch.setattr(state, "store", lambda attempt: stored.append(attempt.pk))
    live.publish(SimpleNamespace(pk=9))
    assert stored == [9]
    assert no_notifiers == {}  # no notifier was even made


def test_a_timer_that_fires_after_the_wake_changes_nothing():
    async def scenario():
        future = asyncio.get_running_loop().create_future()
        future.set_result(True)
        live._time_out(future)  # no InvalidStateError, and the wake stands
        return future.result()

    assert run(scenario()) is True


# --- a listener's life cycle ----------------------------------------------------------


class Scripted(live.ListeningNotifier):
    """A listener whose connection is a script: ``connect`` decides what happens."""

    def __init__(self, connect):
        super().__init__()
        self.connect = connect
        self.starts = 0
        self.stop = asyncio.Event()

    def notify(self, attempt_id):
        live.HUB.wake(attempt_id)

    async def listen(self, listening):
        self.starts += 1
        await self.connect(self, listening)


async def connects(notifier, listening):
    notifier._listening(listening)
    await notifier.stop.wait()
    raise ConnectionError("the broker went away")


async def never_connects(notifier, listening):
    raise OSError("connection refused")


def test_the_first_stream_starts_the_listener_and_later_ones_share_it(hub):
    async def scenario():
        notifier = Scripted(connects)
        first, second = await notifier.ready(), await notifier.ready()
        task = notifier._task
        notifier.stop.set()
        await asyncio.gather(task, return_exceptions=True)
        return first, second, notifier.starts

    assert run(scenario()) == (True, True, 1)


def test_a_listener_that_stops_sends_every_stream_to_polling_and_waits_to_reconnect(hub, caplog):
    async def scenario():
        notifier = Scripted(connects)
        assert await notifier.ready() is True
        waiter = live.Waiter(3, "session")
        hub.add(waiter)
        with caplog.at_level(logging.ERROR, logger="django_whatsapp_login"):
            notifier.stop.set()
            await notifier._task  # the error is logged, not raised
        woken = await waiter.wait(30)
        # Within RECONNECT_AFTER a new stream is refused instead of reconnecting.
        return woken, waiter.fallback, await notifier.ready(), notifier.starts

    assert run(scenario()) == (True, True, False, 1)
    assert "listener stopped" in caplog.text and "the broker went away" in caplog.text


def test_a_listener_that_cannot_connect_is_retried_after_the_pause(hub, monkeypatch):
    async def scenario():
        notifier = Scripted(never_connects)
        refused = await notifier.ready()
        monkeypatch.setattr(live, "RECONNECT_AFTER", 0.0)
        notifier.connect = connects
        retried = await notifier.ready()
        notifier.stop.set()
        await notifier._task
        return refused, retried, notifier.starts

    assert run(scenario()) == (False, True, 2)


def test_a_cancelled_listener_stops_quietly_and_sends_the_streams_to_polling(hub, caplog):
    async def scenario():
        notifier = Scripted(connects)
        assert await notifier.ready() is True
        waiter = live.Waiter(4, "session")
        hub.add(waiter)
        notifier._task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await notifier._task
        return await waiter.wait(30), waiter.fallback, notifier._healthy

    with caplog.at_level(logging.ERROR, logger="django_whatsapp_login"):
        assert run(scenario()) == (True, True, False)
    assert "listener stopped" not in caplog.text  # a shutdown is not an error


def test_streams_opened_while_the_listener_connects_give_up_after_the_wait(
    hub, monkeypatch, caplog
):
    """The 3 s wait runs out (asyncio.wait_for is replaced: no test waits 3 s): the stream
    is refused, the connection attempt goes on, and a later stream finds it up."""

    async def slow(notifier, listening):
        await notifier.go.wait()
        await connects(notifier, listening)

    async def expired(awaitable, timeout):
        assert timeout == 3
        awaitable.close()  # the Event.wait() coroutine, never awaited
        raise asyncio.TimeoutError

    async def scenario():
        notifier = Scripted(slow)
        notifier.go = asyncio.Event()
        with monkeypatch.context() as patch:
            patch.setattr(live.asyncio, "wait_for", expired)
            with caplog.at_level(logging.WARNING, logger="django_whatsapp_login"):
                early = await notifier.ready()
        task = notifier._task
        still_connecting = not task.done()
        notifier.go.set()
        later = await notifier.ready()
        notifier.stop.set()
        await task
        return early, still_connecting, later, notifier.starts, notifier._task is task

    assert run(scenario()) == (False, True, True, 1, True)
    assert "did not connect within 3 s" in caplog.text


# --- Redis: the client made once, even when two threads race -------------------------


class Publisher:
    def __init__(self):
        self.published: list[tuple[str, str]] = []

    def publish(self, channel, message):
        self.published.append((channel, message))


def test_the_redis_notifier_uses_the_client_another_thread_just_made(monkeypatch):
    redis = pytest.importorskip("redis")

    def second_client(*args, **kwargs):
        raise AssertionError("a second client was made")

    monkeypatch.setattr(redis.Redis, "from_url", second_client)
    notifier = live.RedisNotifier("redis://127.0.0.1:6379/11", "whatsapp_login")
    made_first = Publisher()
    notifier._client_lock = Lost(lambda: setattr(notifier, "_client", made_first))
    notifier.notify(17)
    notifier.notify(18)
    assert made_first.published == [("whatsapp_login", "17"), ("whatsapp_login", "18")]


# --- PostgreSQL, against a stand-in connection ----------------------------------------


class Cursor:
    def __init__(self, log):
        self.log = log

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def execute(self, sql, params):
        self.log.append((sql, params))


def test_the_postgres_notifier_passes_channel_and_id_as_parameters(monkeypatch):
    import django.db

    executed: list = []
    monkeypatch.setattr(django.db, "connection", SimpleNamespace(cursor=lambda: Cursor(executed)))
    live.PostgresNotifier("login-events").notify(12)
    assert executed == [("SELECT pg_notify(%s, %s)", ["login-events", "12"])]


class ListeningConnection:
    """What the listener uses of psycopg's AsyncConnection: execute, notifies, close."""

    def __init__(self, payloads, lost):
        self.payloads = payloads
        self.lost = lost
        self.executed: list[str] = []
        self.closed = False

    async def execute(self, query):
        self.executed.append(query.as_string(None))

    async def notifies(self):
        for payload in self.payloads:
            yield SimpleNamespace(payload=payload)
        await self.lost.wait()
        raise ConnectionError("server closed the connection")

    async def close(self):
        self.closed = True


@pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")
def test_the_postgres_listener_listens_on_its_channel_and_wakes_the_streams(
    settings, monkeypatch, hub, caplog
):
    psycopg = pytest.importorskip("psycopg")
    # Only read by the stand-in below: no connection is made.
    settings.DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": "site",
            "HOST": "db.internal",
        }
    }
    connections: list[tuple[str, dict]] = []

    async def scenario():
        lost = asyncio.Event()
        conn = ListeningConnection(["12", "not an id", "13"], lost)

        async def connect(conninfo, **kwargs):
            connections.append((conninfo, kwargs))
            return conn

        monkeypatch.setattr(psycopg.AsyncConnection, "connect", connect)
        notifier = live.PostgresNotifier("login-events")
        waiters = {n: live.Waiter(n, f"session-{n}") for n in (12, 13, 14)}
        for waiter in waiters.values():
            hub.add(waiter)
        up = await notifier.ready()
        woken = [await waiters[12].wait(30), await waiters[13].wait(30)]
        with caplog.at_level(logging.ERROR, logger="django_whatsapp_login"):
            lost.set()
            await notifier._task
        # The connection lost: 14, never notified, is sent to polling.
        return up, woken, await waiters[14].wait(30), waiters[14].fallback, conn

    up, woken, woken_14, fallback_14, conn = run(scenario())
    assert up is True and woken == [True, True]
    assert woken_14 is True and fallback_14 is True
    assert conn.executed == ['LISTEN "login-events"']  # quoted: any channel name works
    assert conn.closed is True
    ((conninfo, kwargs),) = connections
    assert kwargs == {"autocommit": True}
    assert dict(item.split("=", 1) for item in conninfo.split()) == {
        "dbname": "site",
        "host": "db.internal",
        "connect_timeout": "3",
    }
    assert "server closed the connection" in caplog.text


# --- the registry ---------------------------------------------------------------------


def test_one_notifier_per_setting(settings, no_notifiers):
    settings.WHATSAPP_LOGIN_LIVE = "postgres"
    settings.WHATSAPP_LOGIN_LIVE_CHANNEL = "site_a"
    first = live.notifier()
    assert isinstance(first, live.PostgresNotifier) and first.channel == "site_a"
    assert live.notifier() is first
    settings.WHATSAPP_LOGIN_LIVE_CHANNEL = "site_b"
    other = live.notifier()
    assert other is not first and other.channel == "site_b"
    settings.WHATSAPP_LOGIN_LIVE = "inprocess"
    assert isinstance(live.notifier(), live.InProcessNotifier)
    assert len(no_notifiers) == 3


def test_the_registry_keeps_the_notifier_another_thread_registered(
    settings, monkeypatch, no_notifiers
):
    settings.WHATSAPP_LOGIN_LIVE = "postgres"
    theirs = live.PostgresNotifier("whatsapp_login")
    key = ("postgres", "whatsapp_login", "")
    monkeypatch.setattr(live, "_notifiers_lock", Lost(lambda: no_notifiers.update({key: theirs})))
    assert live.notifier() is theirs
    assert no_notifiers == {key: theirs}
