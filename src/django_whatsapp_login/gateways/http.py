"""What every gateway's HTTP client needs and no provider decides: keeping secrets out of
logs and error texts, refusing a URL that would carry a secret in clear, reading
``Retry-After``.

Green API puts its token in every URL path, the Cloud API in a header; either way a token
must never reach a log line, an exception text or a ``repr``. Each client registers its
secrets with :func:`remember_secret`; :func:`redact` then replaces them all with ``***``,
and a logging filter does the same to urllib3's request lines (which include the URL) for
every client of this process.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import threading
from typing import TypeVar
from urllib.parse import urlsplit

import requests

__all__ = [
    "USER_AGENT",
    "SessionClient",
    "insecure_url_problem",
    "is_loopback",
    "new_session",
    "redact",
    "remember_secret",
    "retry_after",
]

USER_AGENT = "django-whatsapp-login"

_SECRETS: set[str] = set()
_SECRETS_LOCK = threading.Lock()


def remember_secret(secret: str) -> None:
    """Have :func:`redact` (and the logging filter) hide ``secret`` from now on."""
    if secret:
        with _SECRETS_LOCK:
            _SECRETS.add(secret)


def redact(text: object) -> str:
    """``text`` with every secret known to this process replaced by ``***``."""
    value = str(text)
    with _SECRETS_LOCK:
        secrets = sorted(_SECRETS, key=len, reverse=True)
    for secret in secrets:
        value = value.replace(secret, "***")
    return value


class _RedactingFilter(logging.Filter):
    """Rewrites urllib3's request lines (``"GET /waInstance1/getSettings/<token> ..."``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken record is not ours to fix
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


_FILTER = _RedactingFilter()
for _name in ("urllib3.connectionpool", "urllib3.util.retry", "requests"):
    if _FILTER not in logging.getLogger(_name).filters:
        logging.getLogger(_name).addFilter(_FILTER)


def is_loopback(host: str) -> bool:
    """``localhost`` or a loopback IP address (plain http is tolerated only there)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def insecure_url_problem(url: str, why: str) -> str:
    """Why a secret must not be sent to ``url``, or ``""``: it is not an http(s) URL, or it
    is plain http to a host that is not loopback (``why`` says what would leak)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme not in ("http", "https") or not host:
        return f"{url!r} is not an http(s) URL"
    if parts.scheme == "http" and not is_loopback(host):
        return f"{url} is plain http: {why}"
    return ""


def retry_after(response: requests.Response, *, at_most: float = math.inf) -> float | None:
    """The seconds of a ``Retry-After: <seconds>`` header, within ``[0, at_most]``; ``None``
    when the header is absent or not a number (the caller's backoff applies)."""
    try:
        seconds = float(response.headers.get("Retry-After", ""))
    except ValueError:
        return None
    if math.isnan(seconds):
        return None
    return min(at_most, max(0.0, seconds))


def new_session(session: requests.Session | None = None) -> requests.Session:
    """A new session that says it is this app (``User-Agent``), or ``session`` as given
    (a caller's session keeps its own headers)."""
    if session is not None:
        return session
    session = requests.Session()
    session.headers["User-Agent"] = USER_AGENT
    return session


_Client = TypeVar("_Client", bound="SessionClient")


class SessionClient:
    """A client of one HTTP API over one ``requests.Session``, usable as a context manager
    that closes it: the base URL (no trailing slash), the per-request ``timeout`` in seconds,
    and how often and how fast (``backoff * 2**n`` seconds) a failed call is retried."""

    def __init__(
        self,
        api_url: str,
        *,
        timeout: float,
        max_retries: int,
        backoff: float,
        session: requests.Session | None,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self.session = new_session(session)

    def close(self) -> None:
        self.session.close()

    def __enter__(self: _Client) -> _Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
