"""Helpers for the webhook tests (payload fixtures and database snapshots)."""

from __future__ import annotations

import itertools
import json
import time
from typing import Any

from django_whatsapp_login.models import LoginAttempt, ProcessedMessage

from .conftest import PAYLOADS

_ids = itertools.count(1)

#: Every payload fixture file shipped in tests/payloads.
PAYLOAD_FILES = sorted(path.name for path in PAYLOADS.glob("*.json"))


def payload(name: str, code: str = "", *, timestamp: int | None = None, **overrides: Any) -> dict:
    """Load ``tests/payloads/<name>``, put ``code`` into "AMT LOGIN {code}" and a fresh
    timestamp (now, unless given) so the message falls inside the attempt's window."""
    data = json.loads((PAYLOADS / name).read_text(encoding="utf-8").replace("{code}", code))
    if "timestamp" in data:
        data["timestamp"] = int(time.time()) if timestamp is None else timestamp
    data.update(overrides)
    return data


def new_message_id() -> str:
    return f"3EB1{next(_ids):016X}"


def attempt_state() -> list[tuple]:
    """Everything a webhook could change on the attempts, for before/after comparisons."""
    return list(
        LoginAttempt.objects.order_by("pk").values_list(
            "pk",
            "status",
            "reason",
            "user_id",
            "sender_hash",
            "sender_masked",
            "confirmed_at",
            "closed_at",
            "expires_at",
        )
    )


def processed() -> list[tuple[str, str]]:
    return list(ProcessedMessage.objects.order_by("pk").values_list("chat_id", "message_id"))


def only_attempt() -> LoginAttempt:
    return LoginAttempt.objects.get()
