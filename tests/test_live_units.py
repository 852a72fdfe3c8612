"""Small pieces of the push channel (live.py) that the server tests reach only on some
set-ups: the hub's bookkeeping, notification payloads, and the PostgreSQL listener's
connection string (built from DATABASES, no server needed)."""

from __future__ import annotations

import asyncio

import pytest

from django_whatsapp_login import live


def run(coroutine):
    return asyncio.run(coroutine)


def test_a_notification_payload_wakes_its_attempt_and_junk_wakes_nothing(monkeypatch):
    woken: list[int] = []
    monkeypatch.setattr(live.HUB, "wake", woken.append)
    live._wake_from(b"42")
    live._wake_from("43")
    live._wake_from(b"not a number")
    live._wake_from(None)
    assert woken == [42, 43]


def test_the_hub_counts_streams_per_attempt_and_per_client():
    async def scenario():
        hub = live.Hub()
        one, two = live.Waiter(1, "session-a"), live.Waiter(1, "session-a")
        other = live.Waiter(2, "session-b")
        for waiter in (one, two, other):
            hub.add(waiter)
        assert hub.count == 3 and hub.client_count("session-a") == 2
        assert hub.wake(1) == 2 and hub.wake(99) == 0
        await asyncio.sleep(0)  # wake() goes through call_soon_threadsafe
        assert await one.wait(0.01) is True
        hub.remove(one)
        hub.remove(one)  # twice is harmless
        assert hub.count == 2 and hub.client_count("session-a") == 1
        hub.remove(two)
        assert hub.client_count("session-a") == 0
        hub.fall_back()
        await asyncio.sleep(0)
        assert other.fallback is True and await other.wait(0.01) is True
        return hub.count

    assert run(scenario()) == 1


def test_a_waiter_times_out_and_a_closed_one_returns_at_once():
    async def scenario():
        waiter = live.Waiter(7, "session")
        timed_out = await waiter.wait(0.01)
        waiter.close()
        return timed_out, await waiter.wait(5), waiter.closed

    assert run(scenario()) == (False, True, True)


def test_waking_a_stream_whose_loop_has_closed_is_harmless():
    async def make():
        return live.Waiter(8, "session")

    loop = asyncio.new_event_loop()
    waiter = loop.run_until_complete(make())
    loop.close()
    waiter.wake()  # RuntimeError from the closed loop is swallowed


# Only the settings are read (no connection is made), so overriding DATABASES is safe here.
@pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")
def test_the_listener_connects_with_the_sites_database_settings(settings):
    pytest.importorskip("psycopg")
    settings.DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": "site",
            "USER": "app",
            "PASSWORD": "",
            "HOST": "db.internal",
            "PORT": 6543,
        }
    }
    conninfo = live._postgres_conninfo()
    parts = dict(item.split("=", 1) for item in conninfo.split())
    assert parts == {
        "dbname": "site",
        "user": "app",
        "host": "db.internal",
        "port": "6543",
        "connect_timeout": "3",
    }
