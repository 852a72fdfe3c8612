"""The status poll's Lua script over a connection of its own (redis_script.py), on a real
Redis: killed connections, a fork, an error reply, a reply cut off half way.

Skipped unless REDIS_URL is set (.ci/run sets it in its second pass).
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any
from unittest import mock

import pytest
from django.core.cache import caches
from django.test import Client

from django_whatsapp_login import ratelimit, redis_script

from .conftest import start

pytestmark = [
    pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs REDIS_URL"),
    pytest.mark.django_db,
    pytest.mark.usefixtures("skip_qr_rendering"),
]

#: Reads KEYS[1] and counts KEYS[2]: enough to see replies and errors.
PROBE = redis_script.Script("return {redis.call('GET', KEYS[1]), redis.call('INCR', KEYS[2])}")


@pytest.fixture
def backend():
    found = ratelimit.redis_client()
    assert found is not None, "REDIS_URL is set, so the default cache must be Redis"
    return found[0]


@pytest.fixture
def keys(backend):
    names = [backend.make_key(f"wl-script-test-{os.getpid()}-{name}") for name in ("a", "n")]
    client = backend._cache.get_client(write=True)
    client.delete(*names)
    yield names
    client.delete(*names)


def client(backend: Any) -> Any:
    """redis-py's client of the cache (the path taken when the connection is busy)."""
    found = ratelimit.redis_client()
    assert found is not None and found[0] is backend
    return found[1]


def _kill(backend: Any, conn: Any) -> None:
    """Close ``conn`` from the server's side, as a Redis restart or an idle timeout does."""
    admin = backend._cache.get_client(write=True)
    conn.send_command("CLIENT", "ID")
    client_id = conn.read_response()
    assert admin.client_kill_filter(_id=client_id) == 1


def test_replies_come_back_parsed(backend, keys):
    client(backend).set(keys[0], b"value")
    assert PROBE(backend, client(backend), keys, []) == [b"value", 1]
    assert PROBE(backend, client(backend), keys, []) == [b"value", 2]


def test_one_connection_per_process_shared_by_its_threads(backend, keys):
    first = redis_script.connection(backend)
    PROBE(backend, client(backend), keys, [])
    assert redis_script.connection(backend) is first
    others: list[Any] = []
    thread = threading.Thread(target=lambda: others.append(redis_script.connection(backend)))
    thread.start()
    thread.join()
    assert others == [first]


def test_a_busy_connection_sends_the_call_through_redis_py(backend, keys):
    """While one caller holds the dedicated connection, another never waits for it: it
    goes through redis-py's client (its pool), with the same reply and counting."""
    redis_py = client(backend)
    PROBE(backend, redis_py, keys, [])
    lock, conn = redis_script._entry(backend)
    with lock, mock.patch.object(conn, "send_command", side_effect=AssertionError("busy")):
        assert PROBE(backend, redis_py, keys, [])[1] == 2
    assert PROBE(backend, redis_py, keys, [])[1] == 3


def test_through_redis_py_an_unknown_script_is_loaded(backend, keys, monkeypatch):
    script = redis_script.Script("return redis.call('INCR', KEYS[2])")
    monkeypatch.setattr(script, "sha", "0" * 40)  # a SHA1 the server does not know
    lock, _conn = redis_script._entry(backend)
    with lock:
        assert script(backend, client(backend), keys, []) == 1


def test_a_connection_killed_by_the_server_is_replaced(backend, keys):
    PROBE(backend, client(backend), keys, [])
    _kill(backend, redis_script.connection(backend))
    # The next call finds the socket dead, closes it and runs once more on a fresh one.
    assert PROBE(backend, client(backend), keys, [])[1] == 2


def test_a_forked_process_makes_its_own_connection(backend, keys):
    parent = redis_script.connection(backend)
    with mock.patch.object(redis_script.os, "getpid", return_value=os.getpid() + 100000):
        child = redis_script.connection(backend)
        assert child is not parent
        assert PROBE(backend, client(backend), keys, [])[1] == 1
    assert redis_script.connection(backend) is parent


def test_an_error_reply_is_raised_and_the_connection_stays_in_step(backend, keys):
    from redis.exceptions import ResponseError

    admin = backend._cache.get_client(write=True)
    admin.rpush(keys[1], "not a counter")  # INCR on a list: WRONGTYPE
    conn = redis_script.connection(backend)
    with pytest.raises(ResponseError, match="WRONGTYPE"):
        PROBE(backend, client(backend), keys, [])
    admin.delete(keys[1])
    assert redis_script.connection(backend) is conn
    assert PROBE(backend, client(backend), keys, []) == [None, 1]


def test_a_reply_cut_off_half_way_never_reuses_the_socket(backend, keys):
    conn = redis_script.connection(backend)
    PROBE(backend, client(backend), keys, [])
    with mock.patch.object(conn, "read_response", side_effect=KeyboardInterrupt):
        with pytest.raises(KeyboardInterrupt):
            PROBE(backend, client(backend), keys, [])
    # The reply of that call is still on the old socket: closed, and the next call reads
    # its own reply on a new one (the count shows the interrupted call did run).
    assert conn._sock is None
    assert PROBE(backend, client(backend), keys, [])[1] == 3


def test_the_connections_kept_are_bounded(backend):
    made = []
    real_key = redis_script._wire_key
    with mock.patch.object(
        redis_script, "_wire_key", side_effect=lambda b: (*real_key(b), len(made))
    ):
        for _ in range(redis_script._MAX_SERVERS + 3):
            made.append(redis_script.connection(backend))
            assert len(redis_script._dedicated) <= redis_script._MAX_SERVERS
    assert len(set(map(id, made))) == len(made)


def test_the_poll_survives_a_killed_connection(settings, backend):
    settings.WHATSAPP_LOGIN_STATE_CACHE = True
    settings.WHATSAPP_LOGIN_RATE_LIMIT_STATUS = "3/m/session"
    browser = Client()
    start(browser)
    assert browser.get("/whatsapp/status/").json()["status"] == "pending"
    _kill(backend, redis_script.connection(backend))
    # Still counted (not failed open): the third poll after the kill is refused.
    answers = [browser.get("/whatsapp/status/").status_code for _ in range(3)]
    assert answers == [200, 200, 429]


def test_redis_down_fails_open_with_an_error_logged(settings, caplog):
    settings.WHATSAPP_LOGIN_STATE_CACHE = True
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:9/0",  # the discard port: nothing listens
        }
    }
    caches["default"]  # the new settings' cache for this thread
    browser = Client()
    with caplog.at_level(logging.ERROR, logger="django_whatsapp_login"):
        start(browser)
        response = browser.get("/whatsapp/status/")
    assert response.status_code == 200 and response.json()["status"] == "pending"
    assert any("cache is unreachable" in record.getMessage() for record in caplog.records)


def test_under_asgi_every_request_shares_the_one_connection(keys):
    """Under ASGI each request runs in a context of its own, where Django makes a new Redis
    cache (and connection pool, so a new TCP connection) for it; the poll's script still
    goes over the process's one connection."""
    import asyncio

    from asgiref.sync import sync_to_async

    used: list[Any] = []

    def request() -> None:
        backend = caches["default"]
        used.append(redis_script.connection(backend))
        PROBE(backend, client(backend), keys, [])

    async def serve() -> None:
        for _ in range(5):
            await asyncio.get_running_loop().create_task(sync_to_async(request)())

    asyncio.run(serve())
    assert len(used) == 5 and all(conn is used[0] for conn in used)
    admin = caches["default"]._cache.get_client(write=True)
    assert int(admin.get(keys[1])) == 5


def test_a_pool_it_cannot_copy_goes_through_redis_py(backend, keys, monkeypatch):
    """A custom pool class whose connections cannot be made from its kwargs (or Django's
    private attributes renamed): every call still works, through redis-py's client."""

    def unknown(_backend: Any) -> Any:
        raise AttributeError("'RedisCacheClient' object has no attribute '_servers'")

    monkeypatch.setattr(redis_script, "_wire_key", unknown)
    assert PROBE(backend, client(backend), keys, [])[1] == 1
    assert PROBE(backend, client(backend), keys, [])[1] == 2
