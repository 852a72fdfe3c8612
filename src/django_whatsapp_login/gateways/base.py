"""The gateway interface and the neutral types every gateway produces.

A gateway is the only code that knows one provider's wire format: how its webhook is
authenticated, what its JSON means, how to send a message through it and what to check in
its configuration. The core (attempts, identities, replies, the webhook view) sees only
:class:`Message` (which :class:`IncomingMessage` and Green API's ``IncomingText`` both
satisfy) and :class:`Gateway`, whichever provider is configured.

The helpers at the bottom (:func:`loads_json`, :func:`require_dict`, :func:`bounded_str`,
:func:`text_fallback`) are the parts of parsing and sending that do not depend on a provider,
so that no gateway keeps its own copy of them.
"""

from __future__ import annotations

import abc
import json
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from django.http import HttpResponse

from ..phone import phone_digits
from ..senders import PHONE, SenderIds, WhatsAppId

if TYPE_CHECKING:
    from django.http import HttpRequest

    from ..doctor import Checkup, Result

__all__ = [
    "Button",
    "Gateway",
    "GatewayError",
    "Ignored",
    "IncomingMessage",
    "Message",
    "bounded_str",
    "loads_json",
    "require_dict",
    "text_fallback",
]

#: ``(id, title)`` of one reply button of a question.
Button = tuple[str, str]


class Ignored(Exception):
    """The delivery (or one message of it) is authentic but not something we act on.

    ``reason`` is a short code (``"statuses"``, ``"not_text"``...) for logs and the webhook's
    answer. The webhook answers 200 for these: providers re-send anything else.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class GatewayError(Exception):
    """A call to a gateway's HTTP API failed. ``str()`` never contains a secret."""


@dataclass(frozen=True)
class IncomingMessage:
    """One message a person wrote to the business, in a form that does not depend on the
    gateway."""

    #: ``"greenapi"``, ``"cloudapi"`` or a custom gateway's name.
    gateway: str
    #: The business account it was written to (Cloud API: ``metadata.phone_number_id``).
    business: str
    #: Where to answer (Cloud API: the ``wa_id``, else the business-scoped user id); with
    #: ``message_id`` the idempotency key.
    chat_id: str
    #: The provider's id of this message (Cloud API: ``wamid....``).
    message_id: str
    #: Unix seconds, as the provider reports them.
    timestamp: int
    #: The typed text; for a button reply, the button's title.
    text: str
    #: Every id of the person who wrote; ``None`` when the chat is not a personal one.
    senders: SenderIds | None
    #: The id of the message this one replies to (Cloud API: ``context.id``), or ``""``.
    quoted_id: str = ""
    #: The id of the button pressed (``interactive.button_reply.id``, ``button.payload``).
    button_id: str = ""
    #: The message was forwarded (Cloud API: ``context.forwarded`` or
    #: ``frequently_forwarded``): a forwarded login code is somebody else's (T3).
    forwarded: bool = False


class Message(Protocol):
    """What the core reads of an incoming message: :class:`IncomingMessage` and Green API's
    ``IncomingText`` both have it, so the core never asks which gateway a message came
    from."""

    @property
    def chat_id(self) -> str: ...
    @property
    def message_id(self) -> str: ...
    @property
    def timestamp(self) -> int: ...
    @property
    def text(self) -> str: ...
    @property
    def senders(self) -> SenderIds | None: ...
    @property
    def quoted_id(self) -> str: ...
    @property
    def button_id(self) -> str: ...
    @property
    def forwarded(self) -> bool: ...


class Gateway(abc.ABC):
    """What the core needs from a WhatsApp provider.

    Subclasses set :attr:`name` and implement the abstract methods. One instance may serve
    many requests: keep no per-request state on it.
    """

    #: The value of :attr:`IncomingMessage.gateway` for this provider.
    name: str = ""
    #: Bodies larger than this are answered "ignored" without being parsed.
    max_body_bytes: int = 64 * 1024

    @abc.abstractmethod
    def authenticate(self, request: HttpRequest) -> bool:
        """Is ``request`` a genuine delivery from the provider? Compares secrets in constant
        time and fails closed when none is configured. Never parses the body."""

    def verify(self, request: HttpRequest) -> HttpResponse:
        """Answer a webhook request that is not a ``POST`` (Cloud API: the ``GET``
        subscription handshake). This default, for gateways without one, is a 405."""
        response = HttpResponse(status=405)
        response["Allow"] = "POST"
        return response

    @abc.abstractmethod
    def parse(self, body: bytes) -> Sequence[Message]:
        """The usable messages of an authenticated delivery, in delivery order.

        Raises :class:`Ignored` (and nothing else, whatever the bytes) when there is none.
        """

    @abc.abstractmethod
    def send_text(self, to: str, text: str, *, reply_to: str = "") -> str:
        """Send ``text`` to the chat ``to`` (an :attr:`IncomingMessage.chat_id`), quoting
        ``reply_to`` when given; return the new message's id. Raises :class:`GatewayError`."""

    def send_question(
        self, to: str, text: str, buttons: Sequence[Button], *, reply_to: str = ""
    ) -> str:
        """Ask ``text`` with reply ``buttons``; return the new message's id.

        This default, for gateways that cannot send buttons, sends the question as text
        with the buttons' titles to type back (:func:`text_fallback`).
        """
        return self.send_text(to, text_fallback(text, buttons), reply_to=reply_to)

    def chat_for_phone(self, phone: str) -> str:
        """The chat id that writes to the E.164 ``phone`` (this default: its digits, the
        Cloud API's ``wa_id``)."""
        return phone_digits(phone)

    @abc.abstractmethod
    def checks(self, checkup: Checkup | None = None) -> list[Result]:
        """The doctor's checks of this gateway's configuration: its pass/fail/fix lines, in
        order (``manage.py whatsapp_login_check`` shows them before the user checks).

        ``checkup`` carries the command's options (``url``, ``poll``...) and ``notes`` to keep
        what :meth:`self_test` needs; ``None`` (called outside the doctor) means the defaults.
        Build the lines with :func:`django_whatsapp_login.doctor.result`. A gateway written
        for the older ``checks(self)`` still works: the doctor then calls it without one.
        """

    def self_test(self, checkup: Checkup) -> list[Result]:
        """``whatsapp_login_check --self-test``: the lines of a live round trip (Green API:
        a test delivery to the webhook URL), shown after the user checks. This default, for
        gateways without one, adds no line."""
        return []

    def send_code(self, to: str, text: str, *, timeout: float) -> str:
        """Send a one-time code someone is waiting for (django-allauth's phone codes) to
        the chat ``to``; return the new message's id. Each request waits at most
        ``timeout`` seconds. Raises :class:`GatewayError`, or
        :class:`~django_whatsapp_login.exceptions.WhatsAppLoginImproperlyConfigured` when
        the gateway cannot send. This default is :meth:`send_text`."""
        return self.send_text(to, text)

    def missing_send_settings(self) -> list[str]:
        """The names of the settings that sending needs and that are not set (system check
        ``whatsapp_login.E045`` for the allauth adapter); ``[]`` when it can send. This
        default, for custom gateways, trusts the gateway to know its own."""
        return []

    def sandbox_messages(
        self, phone: str, text: str, *, quoted_id: str = "", button_id: str = ""
    ) -> Sequence[Message]:
        """What the development sandbox delivers (``whatsapp_login:sandbox``, DEBUG only):
        ``text`` written from the E.164 ``phone`` to us, quoting ``quoted_id``; with
        ``button_id``, a press of that reply button titled ``text`` (gateways with buttons).
        The messages go to the webhook's own handling (``webhooks.handle``). Raises
        :class:`Ignored` like :meth:`parse`. This default builds a neutral message."""
        return [
            IncomingMessage(
                gateway=self.name,
                business="sandbox",
                chat_id=self.chat_for_phone(phone),
                message_id="SANDBOX" + secrets.token_hex(8).upper(),
                timestamp=int(time.time()),
                text=text,
                senders=SenderIds.of([WhatsAppId(PHONE, "+" + phone_digits(phone))]),
                quoted_id=quoted_id,
                button_id=button_id,
            )
        ]


# --- helpers shared by the gateways ---------------------------------------------------


def _reject_constant(name: str) -> Any:
    raise ValueError(f"JSON constant {name} is not allowed")


def loads_json(body: bytes) -> Any:
    """Decode a webhook body as strict JSON; raise :class:`Ignored` (``malformed_json``) for
    anything else: bad UTF-8, NaN/Infinity, too deep, trailing garbage."""
    try:
        return json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        # ValueError covers JSONDecodeError, NaN/Infinity and oversized integers.
        raise Ignored("malformed_json") from None


def require_dict(value: Any, reason: str) -> dict[str, Any]:
    """``value`` when it is a JSON object, else :class:`Ignored` with ``reason``."""
    if not isinstance(value, dict):
        raise Ignored(reason)
    return value


def bounded_str(value: Any, reason: str, *, max_length: int) -> str:
    """``value`` when it is a non-empty printable string of at most ``max_length``
    characters, else :class:`Ignored` with ``reason``.

    isprintable() refuses control characters (NUL, which PostgreSQL cannot store) and lone
    surrogates from ``"\\ud800"`` escapes (not encodable as UTF-8): both would make the
    database raise, i.e. a 500 that the provider re-sends for hours or days.
    """
    if not isinstance(value, str) or not value or len(value) > max_length:
        raise Ignored(reason)
    if not value.isprintable():
        raise Ignored(reason)
    return value


def text_fallback(text: str, buttons: Sequence[Button]) -> str:
    """A question for a gateway without buttons: the text, then the titles to type back."""
    titles = " / ".join(title for _, title in buttons)
    return f"{text}\n\n{titles}" if titles else text
