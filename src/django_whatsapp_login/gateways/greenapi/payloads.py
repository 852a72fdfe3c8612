"""Green API payloads: strict parsing of webhook bodies into typed values.

Nothing here touches the database or the request. Anything that is not exactly an
incoming text message raises :class:`Ignored` with a short reason code; the webhook
answers 200 for those (Green API re-sends anything else every minute).

Who wrote is read from ``senderData`` into a gateway-neutral
:class:`~django_whatsapp_login.senders.SenderIds`. A chat is personal when its ``chatId``
is a person's id (``<digits>@c.us`` or ``<digits>@lid``, device suffix allowed); groups
(``@g.us``), ``status@broadcast`` and newsletters are not, and carry ``senders=None``. In a
personal chat ``chatId`` *is* the other person, so every shape Green API documents or has
been seen sending is read: both ids phones, a phone ``chatId`` with a LID ``sender``, a LID
``chatId`` with a phone ``sender``, both LIDs, and an empty or missing ``sender`` (issue
#903 of green-api/issues). ``chatId`` and ``sender`` are no longer required to be equal.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ...phone import chat_id_to_lid, chat_id_to_phone
from ...senders import LID, PHONE, SenderIds, WhatsAppId
from ..base import Ignored, bounded_str, loads_json, require_dict

#: Bodies larger than this are not parsed (SR-4). Real login messages are < 2 KiB.
MAX_BODY_BYTES = 64 * 1024
#: Longer texts are ignored before any regular expression runs (SR-16).
MAX_TEXT_CHARS = 256
MAX_ID_CHARS = 128

INCOMING_MESSAGE = "incomingMessageReceived"

__all__ = [
    "MAX_BODY_BYTES",
    "Ignored",
    "IncomingText",
    "loads",
    "parse_incoming_text",
    "personal_id",
    "read_senders",
]


@dataclass(frozen=True)
class IncomingText:
    """An ``incomingMessageReceived`` webhook carrying typed text."""

    id_instance: str
    wid: str
    #: ``senderData.chatId`` as received: with ``message_id`` the idempotency key.
    chat_id: str
    #: ``senderData.sender`` as received; ``""`` when it is missing, empty or unreadable.
    sender: str
    message_id: str
    timestamp: int
    type_message: str
    text: str
    #: The ``idMessage`` of the message this one quotes (a reply), or "".
    quoted_id: str = ""
    #: Every id of the person who wrote, for a personal chat; ``None`` for groups,
    #: broadcasts, newsletters and chat ids of an unknown kind.
    senders: SenderIds | None = None
    #: Green API's button replies are not read as text (``not_text_message``): kept for the
    #: core's message protocol.
    button_id: str = ""
    #: ``isForwarded`` is true or ``forwardingScore`` positive: the core refuses it (T3).
    forwarded: bool = False


#: Decode a webhook body; raise :class:`Ignored` for anything that is not strict JSON.
loads = loads_json


_dict = require_dict


def _str(value: Any, reason: str, *, max_length: int = MAX_ID_CHARS) -> str:
    return bounded_str(value, reason, max_length=max_length)


def _text(message_data: dict[str, Any]) -> str:
    """The typed text, branching on ``typeMessage`` (never on which field exists).

    ``reactionMessage`` also carries ``extendedTextMessageData.text`` (the emoji), and
    captions, edits, polls and button replies are not typed login messages.
    """
    type_message = message_data.get("typeMessage")
    if type_message == "textMessage":
        data = _dict(message_data.get("textMessageData"), "bad_message_data")
        value = data.get("textMessage")
    elif type_message in ("extendedTextMessage", "quotedMessage"):
        data = _dict(message_data.get("extendedTextMessageData"), "bad_message_data")
        value = data.get("text")
    else:
        raise Ignored("not_text_message")
    if not isinstance(value, str):
        raise Ignored("bad_message_data")
    if len(value) > MAX_TEXT_CHARS:
        raise Ignored("text_too_long")
    return value


def _forwarded(message_data: dict[str, Any]) -> bool:
    """``isForwarded`` (true only) or a positive ``forwardingScore`` in the text's data.
    Both text types document them (textMessageData too, per Green API's TextMessage page);
    the core rejects a forwarded login text (T3). Call after :func:`_text`."""
    key = "textMessageData"
    if message_data.get("typeMessage") != "textMessage":
        key = "extendedTextMessageData"
    data = message_data[key]
    score = data.get("forwardingScore")
    return data.get("isForwarded") is True or (type(score) is int and score > 0)


def _quoted_id(message_data: dict[str, Any]) -> str:
    """The quoted message's id: ``quotedMessage.stanzaId`` (the current reply format), or
    ``extendedTextMessageData.stanzaId`` of the deprecated ``quotedMessage`` type."""
    quoted = message_data.get("quotedMessage")
    if message_data.get("typeMessage") == "quotedMessage":
        quoted = message_data.get("extendedTextMessageData")
    if not isinstance(quoted, dict):
        return ""
    value = quoted.get("stanzaId")
    if isinstance(value, str) and 0 < len(value) <= MAX_ID_CHARS and value.isprintable():
        return value
    return ""


def personal_id(value: object) -> WhatsAppId | None:
    """A person's id (``…@c.us`` phone or ``…@lid``, device suffix stripped), else None."""
    phone = chat_id_to_phone(value)
    if phone is not None:
        return WhatsAppId(PHONE, phone)
    lid = chat_id_to_lid(value)
    if lid is not None:
        return WhatsAppId(LID, lid)
    return None


def read_senders(chat_id: str, sender: object) -> SenderIds | None:
    """The sender's ids from ``senderData``, or None when the chat is not a personal one.

    ``sender`` may be absent, ``None`` or ``""``: the chat id alone then names the person.
    A ``sender`` that is present but not a person's id (wrong type, malformed, a group id)
    marks the ids ``unreadable``: the login is refused, never guessed.
    """
    chat = personal_id(chat_id)
    if chat is None:
        return None
    if sender is None or sender == "":
        return SenderIds.of([chat])
    other = personal_id(sender)
    if other is None:
        return SenderIds.of([chat], unreadable=True)
    return SenderIds.of([chat, other])


def _raw_sender(value: object) -> str:
    if isinstance(value, str) and len(value) <= MAX_ID_CHARS and value.isprintable():
        return value
    return ""


def parse_incoming_text(data: Any) -> IncomingText:
    """Validate a decoded webhook body; raise :class:`Ignored` unless it is usable."""
    body = _dict(data, "not_an_object")
    if body.get("typeWebhook") != INCOMING_MESSAGE:
        raise Ignored("not_incoming_message")
    instance = _dict(body.get("instanceData"), "bad_instance_data")
    id_instance = instance.get("idInstance")
    if isinstance(id_instance, bool) or not isinstance(id_instance, (int, str)):
        raise Ignored("bad_instance_data")
    if instance.get("typeInstance", "whatsapp") != "whatsapp":
        raise Ignored("not_whatsapp")
    wid = instance.get("wid")
    if not isinstance(wid, str):
        raise Ignored("bad_instance_data")
    timestamp = body.get("timestamp")
    if isinstance(timestamp, bool) or not isinstance(timestamp, int) or timestamp <= 0:
        raise Ignored("bad_timestamp")
    message_id = _str(body.get("idMessage"), "bad_message_id")
    sender_data = _dict(body.get("senderData"), "bad_sender_data")
    chat_id = _str(sender_data.get("chatId"), "bad_sender_data")
    raw_sender = sender_data.get("sender")
    message_data = _dict(body.get("messageData"), "bad_message_data")
    text = _text(message_data)
    return IncomingText(
        id_instance=str(id_instance).strip(),
        wid=wid,
        chat_id=chat_id,
        sender=_raw_sender(raw_sender),
        message_id=message_id,
        timestamp=timestamp,
        type_message=str(message_data["typeMessage"]),
        text=text,
        quoted_id=_quoted_id(message_data),
        senders=read_senders(chat_id, raw_sender),
        forwarded=_forwarded(message_data),
    )
