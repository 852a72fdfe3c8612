"""Cloud API webhook bodies: strict parsing into neutral :class:`IncomingMessage` values.

Nothing here touches the database, the settings or the request. A delivery is
``{"object": "whatsapp_business_account", "entry": [{"changes": [{"field": "messages",
"value": {...}}]}]}``, and one delivery may carry several entries, changes and messages.
Each message is judged on its own: a status, a reaction or a photo next to a login message
is skipped with a reason while the login message is kept. Only a body that is not such an
envelope at all is ignored as a whole. Whatever the bytes, the only exception that leaves
this module is :class:`Ignored`.

Who wrote is read into a :class:`SenderIds`: the phone from ``messages[].from`` and the
matching ``contacts[].wa_id`` (digits, read as E.164), the business-scoped user id from
``messages[].from_user_id`` and ``contacts[].user_id``, and the username from
``contacts[].profile.username``. Since 2026 a user with a username may arrive with no phone
anywhere in the delivery, so a phone is not required. An id that is present but malformed
marks the sender ``unreadable`` (the core refuses such a login rather than guess); a
malformed username is dropped instead, because a username only names, never anchors.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ...phone import InvalidPhoneNumber, normalize_phone
from ...senders import BSUID, PHONE, USERNAME, SenderIds, WhatsAppId, read_bsuid
from ..base import Ignored, IncomingMessage, bounded_str, loads_json, require_dict

__all__ = [
    "GATEWAY",
    "MAX_BODY_BYTES",
    "MAX_BUTTON_ID_CHARS",
    "MAX_ID_CHARS",
    "MAX_TEXT_CHARS",
    "Delivery",
    "Skipped",
    "parse_delivery",
    "read_bsuid",
    "read_delivery",
    "read_phone",
    "read_username",
]

GATEWAY = "cloudapi"
OBJECT = "whatsapp_business_account"
FIELD = "messages"
#: Bodies larger than this are not parsed. Meta batches updates, so the bound is wider than
#: Green API's 64 KiB; a login message delivery is under 2 KiB.
MAX_BODY_BYTES = 256 * 1024
#: Longer texts are skipped before any regular expression runs (SR-16).
MAX_TEXT_CHARS = 256
#: Message ids (``wamid.`` + base64, about 60 characters) and phone number ids.
MAX_ID_CHARS = 128
#: Meta allows button ids of up to 256 characters.
MAX_BUTTON_ID_CHARS = 256

_DIGITS = re.compile(r"[0-9]{1,15}")
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
# Meta's username rules: 3-35 of letters, digits, "." and "_", at least one letter.
_USERNAME = re.compile(r"@?(?=[0-9._]*[A-Za-z])[A-Za-z0-9._]{3,35}")
_MEDIA = frozenset(
    {"image", "audio", "video", "document", "sticker", "location", "contacts", "order"}
)


@dataclass(frozen=True)
class Skipped:
    """One part of a delivery that was not a usable message, and why (for the logs)."""

    reason: str
    message_id: str = ""


@dataclass(frozen=True)
class Delivery:
    """What one webhook body carried: the usable messages and everything skipped."""

    messages: tuple[IncomingMessage, ...] = ()
    skipped: tuple[Skipped, ...] = field(default=(), repr=False)

    @property
    def reason(self) -> str:
        """Why nothing in it is usable (the first skip), for a delivery without messages."""
        return self.skipped[0].reason if self.skipped else "no_messages"


# --- ids ---------------------------------------------------------------------------------


def read_phone(value: object) -> str | None:
    """A ``wa_id``/``from`` (international digits, no ``+``) as E.164, or ``None``."""
    if not isinstance(value, str) or not _DIGITS.fullmatch(value):
        return None
    try:
        return normalize_phone("+" + value)
    except InvalidPhoneNumber:
        return None


def read_username(value: object) -> str | None:
    """A username in canonical form (``"@maria.lopez"``; Meta compares them without case)."""
    if isinstance(value, str) and _USERNAME.fullmatch(value):
        return "@" + value.removeprefix("@").lower()
    return None


def _present(value: object) -> bool:
    return value is not None and value != ""


class _SenderReader:
    """Collects a sender's ids by kind; a present but malformed id makes it unreadable."""

    def __init__(self) -> None:
        self.phones: list[WhatsAppId] = []
        self.bsuids: list[WhatsAppId] = []
        self.usernames: list[WhatsAppId] = []
        self.unreadable = False

    def phone(self, value: object) -> None:
        if not _present(value):
            return
        phone = read_phone(value)
        if phone is None:
            self.unreadable = True
        else:
            self.phones.append(WhatsAppId(PHONE, phone))

    def bsuid(self, value: object) -> None:
        if not _present(value):
            return
        bsuid = read_bsuid(value)
        if bsuid is None:
            self.unreadable = True
        else:
            self.bsuids.append(WhatsAppId(BSUID, bsuid))

    def username(self, value: object) -> None:
        username = read_username(value)
        if username is not None:
            self.usernames.append(WhatsAppId(USERNAME, username))

    def result(self) -> SenderIds:
        ids = [*self.phones, *self.bsuids, *self.usernames]
        return SenderIds.of(ids, unreadable=self.unreadable)


def _contacts(value: dict[str, Any]) -> list[dict[str, Any]]:
    contacts = value.get("contacts")
    if not isinstance(contacts, list):
        return []
    return [contact for contact in contacts if isinstance(contact, dict)]


def _senders(message: dict[str, Any], contacts: list[dict[str, Any]]) -> SenderIds:
    """Every id of the person who wrote ``message``: its own fields and every contact that
    names the same phone or user id (two contacts that disagree make it contradictory)."""
    sender, user_id = message.get("from"), message.get("from_user_id")
    reader = _SenderReader()
    reader.phone(sender)
    reader.bsuid(user_id)
    for contact in contacts:
        wa_id, contact_user_id = contact.get("wa_id"), contact.get("user_id")
        same_phone = _present(sender) and wa_id == sender
        same_user = _present(user_id) and contact_user_id == user_id
        if not (same_phone or same_user):
            continue
        reader.phone(wa_id)
        reader.bsuid(contact_user_id)
        profile = contact.get("profile")
        if isinstance(profile, dict):
            reader.username(profile.get("username"))
    return reader.result()


# --- one message -------------------------------------------------------------------------


def _timestamp(value: Any) -> int:
    # Meta sends seconds as a string; an integer is accepted too, a boolean is not one.
    if isinstance(value, str) and _TIMESTAMP.fullmatch(value):
        number = int(value)
    elif isinstance(value, int) and not isinstance(value, bool):
        number = value
    else:
        raise Ignored("bad_timestamp")
    if not 0 < number < 10**12:
        raise Ignored("bad_timestamp")
    return number


_dict = require_dict


def _typed_text(value: Any, reason: str = "bad_text") -> str:
    """Typed text: bounded before anything else looks at it; no NUL, no lone surrogate."""
    if not isinstance(value, str):
        raise Ignored(reason)
    if len(value) > MAX_TEXT_CHARS:
        raise Ignored("text_too_long")
    if "\x00" in value or any("\ud800" <= ch <= "\udfff" for ch in value):
        raise Ignored(reason)
    return value


def _content(message: dict[str, Any]) -> tuple[str, str]:
    """``(text, button_id)``, branching on ``type`` (never on which field exists)."""
    kind = message.get("type")
    if not isinstance(kind, str):  # a list or dict here must not reach the set lookup below
        raise Ignored("unknown_type")
    if kind == "text":
        return _typed_text(_dict(message.get("text"), "bad_text").get("body")), ""
    if kind == "interactive":
        interactive = _dict(message.get("interactive"), "bad_interactive")
        reply_kind = interactive.get("type")
        if reply_kind not in ("button_reply", "list_reply"):
            raise Ignored("unsupported_interactive")
        reply = _dict(interactive.get(reply_kind), "bad_interactive")
        button_id = bounded_str(reply.get("id"), "bad_button_id", max_length=MAX_BUTTON_ID_CHARS)
        title = _typed_text(reply.get("title"), "bad_interactive")
        return title, button_id
    if kind == "button":
        button = _dict(message.get("button"), "bad_button")
        payload = bounded_str(
            button.get("payload"), "bad_button_id", max_length=MAX_BUTTON_ID_CHARS
        )
        return _typed_text(button.get("text"), "bad_button"), payload
    if kind == "system":
        raise Ignored("system")
    if kind == "reaction":
        raise Ignored("reaction")
    if kind == "unsupported" or "errors" in message:
        raise Ignored("unsupported")
    if kind in _MEDIA:
        raise Ignored("not_text")
    raise Ignored("unknown_type")


def _context(message: dict[str, Any]) -> tuple[str, bool]:
    """``(quoted_id, forwarded)`` from ``context``. A forward flag of the wrong type is not
    read as "not forwarded": the whole message is skipped."""
    context = message.get("context")
    if context is None:
        return "", False
    context = _dict(context, "bad_context")
    flags = [context.get("forwarded"), context.get("frequently_forwarded")]
    if any(flag is not None and not isinstance(flag, bool) for flag in flags):
        raise Ignored("bad_context")
    quoted = context.get("id")
    quoted_id = ""
    if isinstance(quoted, str) and 0 < len(quoted) <= MAX_ID_CHARS and quoted.isprintable():
        quoted_id = quoted
    return quoted_id, any(flag is True for flag in flags)


def _chat_id(message: dict[str, Any]) -> str:
    """Where to answer: the phone digits when readable, else the business-scoped user id."""
    sender = message.get("from")
    if read_phone(sender) is not None:
        return str(sender)
    user_id = read_bsuid(message.get("from_user_id"))
    if user_id is not None:
        return user_id
    if _present(sender) or _present(message.get("from_user_id")):
        raise Ignored("bad_sender")
    raise Ignored("no_sender")


def read_message(message: Any, business: str, contacts: list[dict[str, Any]]) -> IncomingMessage:
    """One element of ``value.messages``; raises :class:`Ignored` unless it is usable."""
    message = _dict(message, "bad_message")
    message_id = bounded_str(message.get("id"), "bad_message_id", max_length=MAX_ID_CHARS)
    timestamp = _timestamp(message.get("timestamp"))
    if _present(message.get("group_id")):
        raise Ignored("group_message")
    text, button_id = _content(message)
    quoted_id, forwarded = _context(message)
    return IncomingMessage(
        gateway=GATEWAY,
        business=business,
        chat_id=_chat_id(message),
        message_id=message_id,
        timestamp=timestamp,
        text=text,
        senders=_senders(message, contacts),
        quoted_id=quoted_id,
        button_id=button_id,
        forwarded=forwarded,
    )


# --- the envelope ------------------------------------------------------------------------


def _message_id(message: Any) -> str:
    if isinstance(message, dict):
        value = message.get("id")
        if isinstance(value, str) and len(value) <= MAX_ID_CHARS and value.isprintable():
            return value
    return ""


def _read_value(value: Any) -> Iterator[IncomingMessage | Skipped]:
    if not isinstance(value, dict):
        yield Skipped("bad_value")
        return
    if value.get("messaging_product", "whatsapp") != "whatsapp":
        yield Skipped("not_whatsapp")
        return
    statuses = value.get("statuses")
    if isinstance(statuses, list):
        yield from (Skipped("status", _message_id(status)) for status in statuses)
    elif statuses is not None:
        yield Skipped("bad_statuses")
    if value.get("errors") is not None:
        yield Skipped("errors")
    messages = value.get("messages")
    if messages is None:
        return
    try:
        metadata = _dict(value.get("metadata"), "bad_metadata")
        business = bounded_str(
            metadata.get("phone_number_id"), "bad_metadata", max_length=MAX_ID_CHARS
        )
        if not isinstance(messages, list):
            raise Ignored("bad_messages")
    except Ignored as ignored:
        yield Skipped(ignored.reason)
        return
    contacts = _contacts(value)
    for message in messages:
        try:
            yield read_message(message, business, contacts)
        except Ignored as ignored:
            yield Skipped(ignored.reason, _message_id(message))


def _read_entry(entry: Any) -> Iterator[IncomingMessage | Skipped]:
    if not isinstance(entry, dict) or not isinstance(entry.get("changes"), list):
        yield Skipped("bad_entry")
        return
    for change in entry["changes"]:
        if not isinstance(change, dict):
            yield Skipped("bad_change")
        elif change.get("field") != FIELD:
            # account_update, message_template_status_update, smb_message_echoes, ...
            yield Skipped("other_field")
        else:
            yield from _read_value(change.get("value"))


def read_delivery(data: Any) -> Delivery:
    """Sort a decoded body into usable messages and skipped parts.

    Raises :class:`Ignored` only when ``data`` is not a Cloud API delivery at all.
    """
    body = _dict(data, "not_an_object")
    if body.get("object") != OBJECT:
        raise Ignored("not_whatsapp_business_account")
    entries = body.get("entry")
    if not isinstance(entries, list):
        raise Ignored("bad_entry")
    messages: list[IncomingMessage] = []
    skipped: list[Skipped] = []
    for entry in entries:
        for item in _read_entry(entry):
            if isinstance(item, Skipped):
                skipped.append(item)
            else:
                messages.append(item)
    return Delivery(tuple(messages), tuple(skipped))


def parse_delivery(body: bytes) -> Delivery:
    """:func:`read_delivery` of a raw body: bounded in size, strict JSON."""
    if len(body) > MAX_BODY_BYTES:
        raise Ignored("too_large")
    return read_delivery(loads_json(body))
