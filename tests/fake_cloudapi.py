"""A fake Graph API (the Cloud API calls this app makes) over real HTTP on 127.0.0.1, and
builders for signed webhook deliveries.

Scriptable from tests:

- ``phone``: what ``GET /{version}/{phone-number-id}`` answers;
- ``subscriptions``: what ``GET /{version}/{app-id}/subscriptions`` answers (``data``);
- ``fail(call, status, times=1, body=..., headers=...)``: answer the next calls of
  ``"messages"``, ``"phone_number"`` or ``"subscriptions"`` with an error; ``rate_limit``,
  ``server_error`` and ``expire_token`` script Meta's own answers for those cases;
- ``delay(call, seconds)`` to provoke timeouts;
- ``requests``: every request as ``(http_method, call, json_body)``; ``sent``: the message
  payloads accepted; ``authorizations``: the Authorization headers received.

Tokens are checked like Meta does: the access token for the phone number's calls, the app
token ``<app id>|<app secret>`` for the subscriptions; a wrong one is a 401 with Meta's
OAuthException body (code 190).
"""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult

from django_whatsapp_login.gateways.cloudapi.signature import sign

from .fake_server import Answer, FakeServer

VERSION = "v26.0"
PHONE_NUMBER_ID = "100000000000001"
WABA_ID = "100000000000009"
APP_ID = "100000000000077"
ACCESS_TOKEN = "EAAFAKEcloudapitoken0123456789abcdefghijklmnopqrstuvwxyz"
APP_SECRET = "fake-app-secret-0123456789abcdef"
VERIFY_TOKEN = "fake-verify-token-0123456789abcdefghijkl"
BUSINESS_DIGITS = "996555000001"
USER_DIGITS = "996555000123"
USER_BSUID = "KG.1000000000000000123"
PAYLOADS = Path(__file__).parent / "payloads" / "cloudapi"


def meta_error(message: str, code: int, subcode: int | None = None, kind: str = "") -> Any:
    """An error body in the shape the Graph API answers."""
    error: dict[str, Any] = {
        "message": message,
        "type": kind or "OAuthException",
        "code": code,
        "fbtrace_id": "AFakeTraceId0001",
    }
    if subcode is not None:
        error["error_subcode"] = subcode
    return {"error": error}


EXPIRED = meta_error(
    "Error validating access token: Session has expired on Tuesday, 01-Dec-26 10:00:00 PST.",
    190,
    463,
)
INVALID_TOKEN = meta_error("Invalid OAuth access token - Cannot parse access token", 190)


class FakeCloudAPI(FakeServer):
    def __init__(
        self,
        *,
        version: str = VERSION,
        phone_number_id: str = PHONE_NUMBER_ID,
        app_id: str = APP_ID,
        token: str = ACCESS_TOKEN,
        app_secret: str = APP_SECRET,
    ) -> None:
        super().__init__()
        self.version = version
        self.phone_number_id = phone_number_id
        self.app_id = app_id
        self.token = token
        self.app_secret = app_secret
        self.phone: dict[str, Any] = {
            "id": phone_number_id,
            "display_phone_number": "+996 555-000 001",
            "verified_name": "Fake Tenant Services",
            "quality_rating": "GREEN",
        }
        self.subscriptions: list[dict[str, Any]] = [
            {
                "object": "whatsapp_business_account",
                "callback_url": "https://example.com/whatsapp/webhook/",
                "active": True,
                "fields": [{"name": "messages", "version": version}],
            }
        ]
        self.sent: list[dict[str, Any]] = []
        self.authorizations: list[str] = []
        #: The client's backoff waits, filled in by the ``fake_cloudapi`` fixture.
        self.sleeps: list[float] = []
        self._expired = False

    # --- control -----------------------------------------------------------------------

    def default_error(self, status: int) -> Any:
        return meta_error(f"fake {status}", 1, kind="OAuthException")

    def rate_limit(self, call: str, retry_after: str = "1", times: int = 1) -> None:
        body = meta_error("(#130429) Rate limit hit", 130429, kind="OAuthException")
        self.fail(call, 429, times, body, {"Retry-After": retry_after})

    def server_error(self, call: str, times: int = 1) -> None:
        body = meta_error("An unknown error has occurred.", 1, kind="OAuthException")
        self.fail(call, 500, times, body)

    def expire_token(self) -> None:
        self._expired = True

    # --- the API -----------------------------------------------------------------------

    def dispatch(
        self, http_method: str, path: str, authorization: str, body: Any
    ) -> tuple[int, Any, dict[str, str]]:
        parts = path.strip("/").split("/")
        if not parts or parts[0] != self.version:
            return 400, meta_error("Unknown path components", 2500), {}
        rest = parts[1:]
        if rest == [self.phone_number_id, "messages"] and http_method == "POST":
            call, expected = "messages", self.token
        elif rest == [self.phone_number_id] and http_method == "GET":
            call, expected = "phone_number", self.token
        elif rest == [self.app_id, "subscriptions"] and http_method == "GET":
            call, expected = "subscriptions", f"{self.app_id}|{self.app_secret}"
        else:
            return 400, meta_error("Unsupported request", 100, 33, "GraphMethodException"), {}
        with self._lock:
            self.requests.append((http_method, call, body))
            self.authorizations.append(authorization)
        scheme, _, supplied = authorization.partition(" ")
        if scheme.lower() != "bearer" or supplied != expected:
            return 401, INVALID_TOKEN, {"WWW-Authenticate": 'OAuth "Facebook Platform"'}
        if self._expired:
            return 401, EXPIRED, {"WWW-Authenticate": 'OAuth "Facebook Platform"'}
        failure = self.scripted(call)
        if failure is not None:
            return failure
        return getattr(self, "api_" + call)(body)

    def api_phone_number(self, body: Any) -> tuple[int, Any, dict[str, str]]:
        return 200, dict(self.phone), {}

    def api_subscriptions(self, body: Any) -> tuple[int, Any, dict[str, str]]:
        return 200, {"data": copy.deepcopy(self.subscriptions)}, {}

    def api_messages(self, body: Any) -> tuple[int, Any, dict[str, str]]:
        invalid = 400, meta_error("(#131009) Parameter value is not valid", 131009), {}
        if not isinstance(body, dict) or body.get("messaging_product") != "whatsapp":
            return invalid
        target = body.get("to") or body.get("recipient")
        if not isinstance(target, str) or not target:
            return invalid
        kind = body.get("type")
        if kind == "text":
            text = body.get("text", {}).get("body")
            if not isinstance(text, str) or not 0 < len(text) <= 4096:
                return invalid
        elif kind == "interactive":
            buttons = body.get("interactive", {}).get("action", {}).get("buttons", [])
            if not 1 <= len(buttons) <= 3:
                return invalid
            for button in buttons:
                reply = button.get("reply", {})
                if not 0 < len(reply.get("title", "")) <= 20:
                    return invalid
                if not 0 < len(reply.get("id", "")) <= 256:
                    return invalid
        else:
            return invalid
        with self._lock:
            self.sent.append(body)
            number = len(self.sent)
        contact = {"input": target}
        contact["wa_id" if "to" in body else "user_id"] = target
        return (
            200,
            {
                "messaging_product": "whatsapp",
                "contacts": [contact],
                "messages": [{"id": f"wamid.FAKESENT{number:012d}"}],
            },
            {},
        )

    # --- HTTP plumbing -----------------------------------------------------------------

    def respond(self, http_method: str, url: SplitResult, headers: Any, body: Any) -> Answer:
        return self.dispatch(http_method, url.path, headers.get("Authorization", ""), body)


# --- webhook deliveries ------------------------------------------------------------------


def load(name: str) -> dict[str, Any]:
    """A fixture from tests/payloads/cloudapi/ (real-shaped, fake ids)."""
    return json.loads((PAYLOADS / name).read_text(encoding="utf-8"))


def envelope(value: dict[str, Any], field: str = "messages") -> dict[str, Any]:
    """``value`` inside one entry and one change, as Meta wraps it."""
    value = {
        "messaging_product": "whatsapp",
        "metadata": {
            "display_phone_number": BUSINESS_DIGITS,
            "phone_number_id": PHONE_NUMBER_ID,
        },
        **value,
    }
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": WABA_ID, "changes": [{"value": value, "field": field}]}],
    }


_ids = iter(range(1, 10**9))


def text_delivery(
    text: str,
    *,
    wa_id: str | None = USER_DIGITS,
    user_id: str | None = USER_BSUID,
    username: str | None = None,
    timestamp: int | None = None,
    message_id: str | None = None,
    context: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A delivery of one text message; ``wa_id=None`` for a sender without a phone."""
    profile: dict[str, Any] = {"name": "Tenant"}
    if username is not None:
        profile["username"] = username
    contact: dict[str, Any] = {"profile": profile}
    message: dict[str, Any] = {
        "id": message_id or f"wamid.FAKE{next(_ids):020d}",
        "timestamp": str(timestamp if timestamp is not None else int(time.time())),
        "type": "text",
        "text": {"body": text},
    }
    if wa_id is not None:
        contact["wa_id"] = wa_id
        message["from"] = wa_id
    if user_id is not None:
        contact["user_id"] = user_id
        message["from_user_id"] = user_id
    if context is not None:
        message["context"] = context
    return envelope({"contacts": [contact], "messages": [message]})


def signed(payload: Any, secret: str = APP_SECRET) -> tuple[bytes, dict[str, str]]:
    """``(body, headers)`` for ``Client.post(url, body, content_type=..., **headers)``:
    the JSON bytes and the ``X-Hub-Signature-256`` Meta would send with them."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode("utf-8")
    return body, {"HTTP_X_HUB_SIGNATURE_256": sign(body, secret)}
