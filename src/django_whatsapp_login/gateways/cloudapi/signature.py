"""Authenticating Meta's webhook requests: the POST signature and the GET handshake.

Every POST carries ``X-Hub-Signature-256: sha256=<hex>``, the HMAC-SHA256 of the raw body
keyed with the app secret. Meta signs with the current secret only, so while a secret is
rotated both the new and the old one must be accepted: every configured secret is tried,
each in constant time, and the loop never stops early, so timing does not tell which one
matched (or how many there are).

When the webhook URL is saved in the app dashboard, Meta calls it once with
``GET ?hub.mode=subscribe&hub.verify_token=<yours>&hub.challenge=<value>`` and expects the
challenge back as the body. The challenge is echoed only when it is short and made of
URL-safe characters (Meta sends digits): a page that reflects arbitrary query text would
be a reflected-XSS gadget on the site's own origin.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping

__all__ = [
    "MAX_CHALLENGE_CHARS",
    "SIGNATURE_HEADER",
    "sign",
    "verify_challenge",
    "verify_signature",
]

#: The header as Django's ``request.headers`` names it.
SIGNATURE_HEADER = "X-Hub-Signature-256"
MAX_CHALLENGE_CHARS = 64
_PREFIX = "sha256="
_HEX_DIGEST = re.compile(r"[0-9a-fA-F]{64}")
_CHALLENGE = re.compile(rf"[0-9A-Za-z_.~-]{{1,{MAX_CHALLENGE_CHARS}}}")


def _encode(value: str) -> bytes:
    # surrogateescape: a secret read from a badly encoded environment still compares as bytes.
    return value.encode("utf-8", "surrogateescape")


def sign(body: bytes, secret: str) -> str:
    """The ``X-Hub-Signature-256`` value Meta sends for ``body`` (tests and tools use it)."""
    return _PREFIX + hmac.new(_encode(secret), body, hashlib.sha256).hexdigest()


def verify_signature(body: bytes, header: str, secrets: list[str]) -> bool:
    """Is ``header`` (``"sha256=<hex>"``) the signature of ``body`` under one of ``secrets``?

    ``False`` for a missing or malformed header and when no secret is configured (fail
    closed). The scheme name is case-insensitive, the hex digest too.
    """
    if not isinstance(header, str) or not header.lower().startswith(_PREFIX):
        return False
    supplied = header[len(_PREFIX) :].strip()
    if not _HEX_DIGEST.fullmatch(supplied):
        return False
    supplied_bytes = supplied.lower().encode("ascii")
    matched = False
    for secret in secrets:
        if not secret:
            continue
        expected = hmac.new(_encode(secret), body, hashlib.sha256).hexdigest().encode("ascii")
        matched |= hmac.compare_digest(supplied_bytes, expected)
    return matched


def _token_matches(supplied: str, tokens: list[str]) -> bool:
    supplied_bytes = _encode(supplied)
    matched = False
    for token in tokens:
        if token:
            matched |= hmac.compare_digest(supplied_bytes, _encode(token))
    return matched


def verify_challenge(params: Mapping[str, str], tokens: list[str]) -> tuple[int, str]:
    """Judge Meta's subscription handshake; returns ``(status, body)`` for the answer.

    ``(200, challenge)`` when ``hub.mode`` is ``subscribe`` and ``hub.verify_token`` is one
    of ``tokens`` (constant time, every token compared); ``(403, "")`` otherwise, and when
    no token is configured; ``(400, "")`` when the token is right but the challenge is not
    a short URL-safe value, which is never echoed.
    """
    mode = params.get("hub.mode", "")
    supplied = params.get("hub.verify_token", "")
    if not isinstance(supplied, str) or not _token_matches(supplied, tokens):
        return 403, ""
    if mode != "subscribe":
        return 403, ""
    challenge = params.get("hub.challenge", "")
    if not isinstance(challenge, str) or not _CHALLENGE.fullmatch(challenge):
        return 400, ""
    return 200, challenge
