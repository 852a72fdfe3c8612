"""A fake Green API instance served over real HTTP on 127.0.0.1 (ephemeral port).

Scriptable from tests:

- ``state``: what getStateInstance answers (``None`` answers JSON ``null``);
- ``settings``: the instance settings (getSettings / setSettings, flags as "yes"/"no");
  ``apply_settings = False`` keeps setSettings from taking effect (the up-to-5-minutes case);
- ``wa_settings``: getWaSettings;
- ``queue(body)``: add a notification for receiveNotification / deleteNotification;
- ``fail(method, status, times=1, body=..., headers=...)``: answer the next calls of a
  method with an error (500, 429, 466 ...); ``delay(method, seconds)`` to provoke timeouts;
- ``requests``: every request received as ``(http_method, api_method, json_body)``;
  ``sent``: the messages accepted by sendMessage; ``events``: an ordered log.

The token and id in the path are checked like Green API does (401 for a wrong token).
"""

from __future__ import annotations

from collections import deque
from typing import Any
from urllib.parse import SplitResult, parse_qs

from .fake_server import Answer, FakeServer

ID_INSTANCE = "1101000001"
API_TOKEN = "fake-api-token-5f3c9a1e7b2d4c6e8a0b"


def default_settings() -> dict[str, Any]:
    # A new instance: everything off (Green API docs, SetSettings).
    return {
        "wid": "996555000001@c.us",
        "countryInstance": "",
        "typeAccount": "",
        "webhookUrl": "",
        "webhookUrlToken": "",
        "delaySendMessagesMilliseconds": 5000,
        "markIncomingMessagesReaded": "no",
        "markIncomingMessagesReadedOnReply": "no",
        "outgoingWebhook": "yes",
        "outgoingMessageWebhook": "yes",
        "outgoingAPIMessageWebhook": "yes",
        "incomingWebhook": "no",
        "deviceWebhook": "no",
        "stateWebhook": "no",
        "keepOnlineStatus": "no",
        "pollMessageWebhook": "no",
        "incomingBlockWebhook": "no",
        "incomingCallWebhook": "no",
        "editedMessageWebhook": "no",
        "deletedMessageWebhook": "no",
        "enableLidMode": "no",
    }


class FakeGreenAPI(FakeServer):
    http_methods = ("GET", "POST", "DELETE")

    def __init__(self, id_instance: str = ID_INSTANCE, token: str = API_TOKEN) -> None:
        super().__init__()
        self.id_instance = id_instance
        self.token = token
        self.state: str | None = "authorized"
        self.settings = default_settings()
        self.apply_settings = True
        self.wa_settings: dict[str, Any] = {
            "avatar": "",
            "phone": "996555000001",
            "stateInstance": "authorized",
            "deviceId": "fake-device",
            "chatId": "120650379300963@lid",
        }
        self.notifications: deque[tuple[int, Any]] = deque()
        # checkWhatsapp: phone digits -> the LID Green API answers for them. A number not
        # in here answers existsWhatsapp false.
        self.lids: dict[str, str] = {}
        self.sent: list[dict[str, Any]] = []
        self.events: list[tuple[str, Any]] = []
        self._next_receipt = 1

    # --- control -----------------------------------------------------------------------

    def queue(self, body: Any) -> int:
        with self._lock:
            receipt = self._next_receipt
            self._next_receipt += 1
            self.notifications.append((receipt, body))
        return receipt

    # --- the API -----------------------------------------------------------------------

    def dispatch(
        self, http_method: str, path: str, query: dict[str, list[str]], body: Any
    ) -> tuple[int, Any, dict[str, str]]:
        parts = path.strip("/").split("/")
        if len(parts) < 3 or parts[0] != f"waInstance{self.id_instance}":
            return 404, {"error": "unknown instance"}, {}
        method, token, rest = parts[1], parts[2], parts[3:]
        self.requests.append((http_method, method, body))
        if token != self.token:
            return 401, {"error": "Unauthorized"}, {}
        failure = self.scripted(method)
        if failure is not None:
            return failure
        handler = getattr(self, "api_" + method, None)
        if handler is None:
            return 404, {"error": f"unknown method {method}"}, {}
        return handler(http_method, query, body, rest)

    def api_getStateInstance(self, http_method, query, body, rest):
        if self.state is None:
            return 200, None, {}
        return 200, {"stateInstance": self.state}, {}

    def api_getSettings(self, http_method, query, body, rest):
        return 200, dict(self.settings), {}

    def api_setSettings(self, http_method, query, body, rest):
        if http_method != "POST" or not isinstance(body, dict):
            return 400, {"error": "bad request"}, {}
        self.events.append(("setSettings", dict(body)))
        if self.apply_settings:
            self.settings.update(body)
        return 200, {"saveSettings": True}, {}

    def api_getWaSettings(self, http_method, query, body, rest):
        return 200, dict(self.wa_settings), {}

    def api_sendMessage(self, http_method, query, body, rest):
        if http_method != "POST" or not isinstance(body, dict) or "chatId" not in body:
            return 400, {"error": "bad request"}, {}
        self.sent.append(body)
        self.events.append(("sendMessage", body))
        return 200, {"idMessage": f"BAE5{len(self.sent):012X}"}, {}

    def api_checkWhatsapp(self, http_method, query, body, rest):
        if http_method != "POST" or not isinstance(body, dict):
            return 400, {"error": "bad request"}, {}
        raw = body.get("chatId", body.get("phoneNumber"))
        digits = str(raw or "").split("@")[0]
        if not digits.isdigit():
            return 400, {"error": "chatId must be a phone number or a chat id"}, {}
        self.events.append(("checkWhatsapp", digits))
        lid = self.lids.get(digits)
        if lid is None:
            return 200, {"existsWhatsapp": False}, {}
        return 200, {"existsWhatsapp": True, "chatId": lid, "phoneNumber": f"{digits}@c.us"}, {}

    def api_receiveNotification(self, http_method, query, body, rest):
        if self.settings.get("webhookUrl"):
            # Green API refuses HTTP-API polling while a webhook URL is set.
            return 400, {"error": "webhookUrl is set"}, {}
        with self._lock:
            head = self.notifications[0] if self.notifications else None
        if head is None:
            return 200, None, {}
        self.events.append(("receiveNotification", head[0]))
        return 200, {"receiptId": head[0], "body": head[1]}, {}

    def api_deleteNotification(self, http_method, query, body, rest):
        if http_method != "DELETE" or len(rest) != 1:
            return 400, {"error": "bad request"}, {}
        receipt = int(rest[0])
        self.events.append(("deleteNotification", receipt))
        with self._lock:
            for item in list(self.notifications):
                if item[0] == receipt:
                    self.notifications.remove(item)
                    return 200, {"result": True}, {}
        return 200, {"result": False}, {}

    # --- HTTP plumbing -----------------------------------------------------------------

    def respond(self, http_method: str, url: SplitResult, headers: Any, body: Any) -> Answer:
        return self.dispatch(http_method, url.path, parse_qs(url.query), body)
