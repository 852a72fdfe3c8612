"""A Lua script run on Django's Redis cache over a connection kept for it.

The status poll (every waiting page, every poll interval) makes one round trip to Redis: a
script that counts its rate limit and reads the attempt's cached state. Through redis-py's
client that call costs about as much as the round trip itself (a connection checked out of
the pool and back, the retry wrapper, the response callbacks); the throughput_redis figure of
docs/benchmarks.md measures the poll. Here the script's reply is read straight off a
connection of our own:

- one connection per process and server, made from the cache's own connection settings
  (``LOCATION`` and ``OPTIONS``: same server, password, TLS, parser) the first time it is
  needed, and again after a fork or when the settings change. It is used by one caller at a
  time: a thread (or greenlet) that finds it busy goes through redis-py's client as before,
  so a threaded or gevent server never waits for it and never opens more connections; a
  cache whose connections cannot be made that way (a custom pool class) always goes
  through redis-py's client;
- ``EVALSHA`` by the script's SHA1, and ``EVAL`` once when the server does not know it (a
  restart, ``SCRIPT FLUSH``), which also loads it;
- a connection that fails or is interrupted mid-reply is closed (the next call opens a
  fresh one), and the call is tried once more on a fresh socket when the failure was the
  connection's; a second failure is raised (the rate limit's callers then fail open,
  :mod:`.ratelimit`). An error reply from Redis leaves the connection in step and is raised.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections.abc import Sequence
from typing import Any

from django.core.cache.backends.redis import RedisCache

logger = logging.getLogger("django_whatsapp_login")

#: The dedicated connections of this process, by (process id, server, options): a few at
#: most. Each entry is [lock, connection]; the lock is only ever tried, never waited for.
_dedicated: dict[tuple[Any, ...], list[Any]] = {}
_registry_lock = threading.Lock()
_MAX_SERVERS = 8


def _wire_key(backend: RedisCache) -> tuple[Any, ...]:
    """What identifies the server and connection settings of ``backend``'s writes."""
    key = getattr(backend, "_whatsapp_login_wire_key", None)
    if key is None:
        client: Any = backend._cache  # Django's RedisCacheClient (private, stable since 4.0)
        options = sorted((name, repr(value)) for name, value in client._pool_options.items())
        key = (client._servers[0], tuple(options))
        backend._whatsapp_login_wire_key = key  # type: ignore[attr-defined]
    return key


def _entry(backend: RedisCache) -> list[Any]:
    """This process's ``[lock, connection]`` for ``backend``'s write server (the connection
    is not connected when new: redis-py connects on the first command)."""
    key = (os.getpid(), _wire_key(backend))
    entry = _dedicated.get(key)
    if entry is None:
        with _registry_lock:
            entry = _dedicated.get(key)
            if entry is None:
                if len(_dedicated) >= _MAX_SERVERS:
                    _dedicated.clear()  # settings changed many times (tests): start over
                pool = backend._cache._get_connection_pool(write=True)  # type: ignore[attr-defined]
                entry = [threading.Lock(), pool.connection_class(**pool.connection_kwargs)]
                _dedicated[key] = entry
    return entry


def connection(backend: RedisCache) -> Any:
    """This process's dedicated connection to ``backend``'s write server."""
    return _entry(backend)[1]


class Script:
    """A Lua script called by its SHA1, on :func:`connection` when it is free."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()

    def __call__(
        self, backend: RedisCache, client: Any, keys: Sequence[str], args: Sequence[Any]
    ) -> Any:
        """The script's reply (redis-py's parsing: integers, bytes, None, lists): over the
        dedicated connection when it is free, else through ``client`` (redis-py's)."""
        import redis.exceptions

        try:
            lock, conn = _entry(backend)
        except Exception:
            # A cache client or connection pool this module does not know how to copy (a
            # custom pool class, Django's private attributes renamed): redis-py's path.
            logger.debug("No dedicated Redis connection; using redis-py's client", exc_info=True)
            return self._through(client, keys, args)
        if not lock.acquire(blocking=False):
            return self._through(client, keys, args)
        try:
            try:
                return self._run(conn, keys, args)
            except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError):
                # A dropped or stale socket (the server restarted, an idle timeout): once
                # more on a fresh one. _run closed the broken one.
                return self._run(conn, keys, args)
        finally:
            lock.release()

    def _through(self, client: Any, keys: Sequence[str], args: Sequence[Any]) -> Any:
        from redis.exceptions import NoScriptError

        try:
            return client.evalsha(self.sha, len(keys), *keys, *args)
        except NoScriptError:
            return client.eval(self.source, len(keys), *keys, *args)

    def _run(self, conn: Any, keys: Sequence[str], args: Sequence[Any]) -> Any:
        from redis.exceptions import NoScriptError, ResponseError

        try:
            conn.send_command("EVALSHA", self.sha, len(keys), *keys, *args)
            try:
                return conn.read_response()
            except NoScriptError:
                conn.send_command("EVAL", self.source, len(keys), *keys, *args)
                return conn.read_response()
        except ResponseError:
            raise  # a whole error reply was read: the connection is still in step
        except BaseException:
            # Anything else may leave a reply half read: never reuse this socket.
            conn.disconnect()
            raise
