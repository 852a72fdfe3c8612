"""Rate limits through Django's cache framework, written as allauth-style strings.

A limit string is a comma-separated list of rules ``<amount>/<period>/<key>``:
``"20/m/ip,5/m/session"``. The period is a unit (``s``, ``m``, ``h``, ``d``) optionally
preceded by a multiplier (``5m`` is five minutes). The key says what is counted: ``ip``
(the client address, see ``WHATSAPP_LOGIN_TRUSTED_PROXY_COUNT``; IPv6 addresses are
counted per /64 network, see :func:`ip_key`), ``session``, ``attempt`` or ``phone``. An
empty string disables the limit.

Counters live in the default cache, so limits hold across processes only with a shared
cache (Redis, Memcached, the database cache); ``check --deploy`` warns about per-process
caches. Counting uses fixed windows: ``cache.incr`` (``cache.add`` when a window starts),
both atomic on every shared backend Django ships; with Django's Redis cache all the rules
of one event are counted in one round trip.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import logging
import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache

from .redis_script import Script

if TYPE_CHECKING:
    from django.http import HttpRequest

logger = logging.getLogger("django_whatsapp_login")

_RULE = re.compile(r"\s*(\d+)\s*/\s*(\d*)\s*([smhd])\s*/\s*(ip|session|attempt|phone)\s*")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class InvalidRateLimit(ValueError):
    pass


@dataclass(frozen=True)
class Rule:
    amount: int
    period: int
    key: str

    def __str__(self) -> str:
        return f"{self.amount}/{self.period}s/{self.key}"


def parse(spec: str) -> list[Rule]:
    """Parse ``"20/m/ip,5/m/session"``; raise :class:`InvalidRateLimit` on a bad rule."""
    return list(_parse(spec))


@functools.lru_cache(maxsize=64)
def _parse(spec: str) -> tuple[Rule, ...]:
    # Settings strings: a handful per project, parsed once (the poll runs this per request).
    rules: list[Rule] = []
    for part in (spec or "").split(","):
        if not part.strip():
            continue
        match = _RULE.fullmatch(part)
        if match is None:
            raise InvalidRateLimit(f"Not a rate limit rule: {part.strip()!r}")
        amount, multiplier, unit, key = match.groups()
        period = int(multiplier or 1) * _UNITS[unit]
        if int(amount) < 1 or period < 1:
            raise InvalidRateLimit(f"Not a rate limit rule: {part.strip()!r}")
        rules.append(Rule(int(amount), period, key))
    return tuple(rules)


def _cache_key(action: str, rule: Rule, value: str, window: int) -> str:
    # Hash the value: it may be an IP address or a phone number, and cache keys show up
    # in monitoring tools.
    digest = hashlib.sha256(value.encode("utf-8")).hexdigest()[:32]
    return f"whatsapp_login:rl:{action}:{rule.key}:{rule.period}:{digest}:{window}"


def ip_key(address: str | None) -> str | None:
    """What the ``ip`` key counts for ``address``: an IPv4 address, or an IPv6 /64.

    One IPv6 subscriber gets a whole /64 (often a /56 or /48), and picks any address in it
    at will, so counting single IPv6 addresses would give one client 2**64 quotas. An IPv4
    address mapped into IPv6 (``::ffff:203.0.113.5``) counts as the IPv4 address.
    """
    if not address:
        return None
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def _windows(
    action: str, spec: str, keys: Mapping[str, str | None], now: float
) -> Iterator[tuple[Rule, str, int]]:
    """(rule, cache key, window number) for each rule of ``spec`` whose key has a value."""
    for rule in _parse(spec):
        value = keys.get(rule.key)
        if rule.key == "ip":
            value = ip_key(value)
        if value:
            window = int(now // rule.period)
            yield rule, _cache_key(action, rule, value, window), window


def _wait(rule: Rule, window: int, now: float) -> int:
    """Seconds until ``window`` of ``rule`` ends (at least 1), for ``Retry-After``."""
    return max(1, int((window + 1) * rule.period - now + 0.999))


def _hit(action: str, spec: str, keys: Mapping[str, str | None]) -> int | None:
    """Count one event against every rule of ``spec``.

    ``keys`` maps a key kind to this request's value (``{"ip": "203.0.113.5"}``); rules
    whose key has no value are skipped. Returns ``None`` when the event is allowed, or the
    number of seconds until the first exceeded window ends (for ``Retry-After``).

    One cache round trip for all the rules with Django's Redis cache (one pipelined
    transaction); with other caches one ``incr`` a rule, plus an ``add`` when a window
    starts.
    """
    now = time.time()
    windows = list(_windows(action, spec, keys, now))
    if not windows:
        return None
    counts = _count_redis(windows)
    if counts is None:
        counts = [_count(key, rule) for rule, key, _window in windows]
    return _retry_after(windows, counts, now)


def _retry_after(windows: list[tuple[Rule, str, int]], counts: list[int], now: float) -> int | None:
    retry_after: int | None = None
    for (rule, _key, window), count in zip(windows, counts, strict=True):
        if count > rule.amount:
            retry_after = max(retry_after or 0, _wait(rule, window, now))
    return retry_after


#: Counts every window (``SET NX EX`` then ``INCR``, as :func:`_count_redis`) and then,
#: when one more key than windows is given, reads that key: the rate limit and the read
#: of what the limited request wants, in one round trip. A missing key ends the reply
#: early (Lua's false), so the reply is as long as ARGV when there is nothing to read.
_HIT_THEN_GET = """
local out = {}
for i = 1, #ARGV do
  redis.call('SET', KEYS[i], 0, 'EX', ARGV[i], 'NX')
  out[i] = redis.call('INCR', KEYS[i])
end
if #KEYS > #ARGV then
  out[#ARGV + 1] = redis.call('GET', KEYS[#KEYS])
end
return out
"""
_HIT_THEN_GET_SCRIPT = Script(_HIT_THEN_GET)


def _hit_then_get(
    action: str, spec: str, keys: Mapping[str, str | None], read_key: str | None
) -> tuple[int | None, Any]:
    """:func:`hit`, then (when the event is allowed and ``read_key`` is given) the cache
    value of ``read_key``: ``(retry_after, value)``, value ``None`` when missing or not read.

    With Django's Redis cache both happen in one round trip (a Lua script called by its
    SHA1 over a connection kept for it: :mod:`.redis_script`); with other caches this is
    :func:`hit` then ``cache.get``. Both counting paths are the same as :func:`hit`'s.
    """
    now = time.time()
    windows = list(_windows(action, spec, keys, now))
    if not windows and read_key is None:
        return None, None
    found = redis_client()
    if found is None:
        retry_after = _hit(action, spec, keys) if windows else None
        if retry_after or read_key is None:
            return retry_after, None
        return None, cache.get(read_key)
    backend, client = found
    # make_key, not make_and_validate_key: these keys are ours (short ASCII, no spaces), and
    # the memcached-compatibility scan of every character is a measurable part of a poll.
    script_keys = [backend.make_key(key) for _rule, key, _window in windows]
    if read_key is not None:
        script_keys.append(backend.make_key(read_key))
    reply = _HIT_THEN_GET_SCRIPT(
        backend, client, script_keys, [rule.period + 1 for rule, _key, _window in windows]
    )
    retry_after = _retry_after(windows, [int(count) for count in reply[: len(windows)]], now)
    if retry_after or len(reply) <= len(windows) or reply[len(windows)] is None:
        return retry_after, None
    return None, backend._cache._serializer.loads(reply[len(windows)])  # type: ignore[attr-defined]


def _count(key: str, rule: Rule) -> int:
    try:
        return cache.incr(key)
    except ValueError:  # the first event of this window (or the key just expired)
        if cache.add(key, 1, timeout=rule.period + 1):
            return 1
        return cache.incr(key)  # another process started the window first


def redis_client() -> tuple[RedisCache, Any] | None:
    """The default cache and a redis-py client of its (write) server, if it is Django's
    Redis cache; None otherwise.

    Django's cache makes a new ``redis.Redis`` for every operation, which costs more than
    the round trip itself on the status poll; this one is made once per cache instance
    (Django keeps one per thread) on the same connection pool.
    """
    backend = caches["default"]
    if not isinstance(backend, RedisCache):
        return None
    client = getattr(backend, "_whatsapp_login_client", None)
    if client is None:
        client = backend._cache.get_client(write=True)
        backend._whatsapp_login_client = client  # type: ignore[attr-defined]
    return backend, client


def _count_redis(windows: list[tuple[Rule, str, int]]) -> list[int] | None:
    """Count every window in one round trip if the default cache is Django's Redis
    cache; None otherwise. ``SET NX EX`` then ``INCR`` in one MULTI: the key cannot
    expire between the two, so no counter ever lives without its timeout."""
    found = redis_client()
    if found is None:
        return None
    backend, client = found
    pipe = client.pipeline(transaction=True)
    for rule, key, _window in windows:
        # The same key and value encoding as cache.add/incr (an int is stored raw), so
        # peek() and cache.get() read these counters.
        full_key = backend.make_and_validate_key(key)
        pipe.set(full_key, 0, ex=rule.period + 1, nx=True)
        pipe.incr(full_key)
    results = pipe.execute()
    return [int(count) for count in results[1::2]]


def _peek(action: str, spec: str, keys: Mapping[str, str | None]) -> int | None:
    """Like :func:`hit` without counting: is the limit already exhausted? (One
    ``get_many``.)"""
    now = time.time()
    windows = list(_windows(action, spec, keys, now))
    if not windows:
        return None
    counts = cache.get_many([key for _rule, key, _window in windows])
    retry_after: int | None = None
    for rule, key, window in windows:
        if counts.get(key, 0) >= rule.amount:
            retry_after = max(retry_after or 0, _wait(rule, window, now))
    return retry_after


# --- the public entry points: a cache that is down never fails the request -------------
# The limits guard against abuse and cost, not secrets (codes are 80 random bits, bindings
# 256): while the cache is unreachable they are not counted, with an error logged, rather
# than answering 500 to every login page, poll and webhook (docs/ratelimits.md).


def hit(action: str, spec: str, keys: Mapping[str, str | None]) -> int | None:
    """Count one event (:func:`_hit`); ``None`` (allowed) while the cache is unreachable."""
    try:
        return _hit(action, spec, keys)
    except Exception:
        logger.exception("Rate limit %r not counted: the cache is unreachable", action)
        return None


def peek(action: str, spec: str, keys: Mapping[str, str | None]) -> int | None:
    """Is the limit exhausted (:func:`_peek`)? ``None`` while the cache is unreachable."""
    try:
        return _peek(action, spec, keys)
    except Exception:
        logger.exception("Rate limit %r not read: the cache is unreachable", action)
        return None


def hit_then_get(
    action: str, spec: str, keys: Mapping[str, str | None], read_key: str | None
) -> tuple[int | None, Any]:
    """Count, then read ``read_key`` (:func:`_hit_then_get`); ``(None, None)`` while the
    cache is unreachable, so the caller reads the database."""
    try:
        return _hit_then_get(action, spec, keys, read_key)
    except Exception:
        logger.exception("Rate limit %r not counted: the cache is unreachable", action)
        return None, None


def client_ip(request: HttpRequest) -> str | None:
    """The client's address: ``REMOTE_ADDR``, or X-Forwarded-For behind trusted proxies.

    With ``WHATSAPP_LOGIN_TRUSTED_PROXY_COUNT = N`` the N-th address from the right of
    X-Forwarded-For is the one our own outermost proxy saw; anything left of it is
    written by the client and never trusted. With the default 0 the header is ignored.
    """
    from .conf import app_settings

    remote = request.META.get("REMOTE_ADDR") or None
    count = app_settings.TRUSTED_PROXY_COUNT
    if count <= 0:
        return remote
    forwarded = [
        part.strip()
        for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
        if part.strip()
    ]
    if len(forwarded) < count:
        return remote
    candidate = forwarded[-count]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return remote
