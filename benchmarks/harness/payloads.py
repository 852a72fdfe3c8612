"""Green API webhook bodies and the benchmark users' phone numbers."""

from __future__ import annotations

import json
import secrets
import time

from . import BUSINESS_WID, INSTANCE


def phone_of(i: int) -> str:
    """The phone number of benchmark user ``i`` (made up, E.164)."""
    return f"+99670{i:07d}"


def incoming(text: str, phone: str) -> bytes:
    """An ``incomingMessageReceived`` text message from ``phone`` to the business number."""
    sender = phone.lstrip("+") + "@c.us"
    return json.dumps(
        {
            "typeWebhook": "incomingMessageReceived",
            "instanceData": {
                "idInstance": int(INSTANCE),
                "wid": BUSINESS_WID,
                "typeInstance": "whatsapp",
            },
            "timestamp": int(time.time()),
            "idMessage": f"3EB0{secrets.token_hex(8).upper()}",
            "senderData": {
                "chatId": sender,
                "chatName": "U",
                "sender": sender,
                "senderName": "U",
                "senderContactName": "",
            },
            "messageData": {"typeMessage": "textMessage", "textMessageData": {"textMessage": text}},
        }
    ).encode()


#: A delivery status of a message the business sent: the webhook must ignore it.
IGNORED_EVENT = json.dumps(
    {
        "typeWebhook": "outgoingMessageStatus",
        "instanceData": {
            "idInstance": int(INSTANCE),
            "wid": BUSINESS_WID,
            "typeInstance": "whatsapp",
        },
        "timestamp": 1700000000,
        "idMessage": "BAE5F4886F2A1A2B",
        "status": "delivered",
        "chatId": "996700123456@c.us",
        "sendByApi": True,
    }
).encode()

WEBHOOK_PATH = "/api/webhooks/greenapi/incoming/"
