"""The only place where phone numbers and WhatsApp chat ids are interpreted.

Everything else in the app works with E.164 strings (``"+996557903999"``).
"""

from __future__ import annotations

import re

from .exceptions import InvalidPhoneNumber

__all__ = ["InvalidPhoneNumber", "chat_id_to_phone", "mask_phone", "normalize_phone", "phone_digits"]

# E.164: at most 15 digits, the country code never starts with 0. Real numbers have at
# least 8 digits with their country code (the shortest national numbers are 4-5 digits
# plus a 3-digit code); 7 is kept as the floor to stay permissive.
_E164_DIGITS = re.compile(r"[1-9][0-9]{6,14}")
# Separators people type between digit groups.
_SEPARATORS = re.compile(r"[\s\-.()/\u00a0\u2010-\u2015]+")
# A personal WhatsApp id: the international number, optionally a ":<device>" suffix.
_PERSONAL_CHAT_ID = re.compile(r"([1-9][0-9]{6,14})(?::[0-9]{1,4})?@c\.us")


def normalize_phone(value: str) -> str:
    """Return ``value`` as E.164 (``"+996557903999"``) or raise :class:`InvalidPhoneNumber`.

    Accepts international numbers in the usual written forms: ``"+996 557 903-999"``,
    ``"(+996) 557903999"``, ``"00996557903999"`` and bare digits ``"996557903999"``
    (read as international). National formats with a trunk prefix (``"0557 903 999"``)
    are refused, because the country cannot be known.
    """
    if not isinstance(value, str):
        raise InvalidPhoneNumber("A phone number must be a string.")
    text = _SEPARATORS.sub("", value.strip())
    if text.startswith("+"):
        digits = text[1:]
    elif text.startswith("00"):
        digits = text[2:]
    else:
        digits = text
    if not digits.isascii() or not _E164_DIGITS.fullmatch(digits):
        raise InvalidPhoneNumber(f"Not an international phone number: {mask_phone(value)!s}")
    return "+" + digits


def phone_digits(value: str) -> str:
    """The digits of a phone number as wa.me and Green API want them (no ``+``)."""
    return normalize_phone(value)[1:]


def chat_id_to_phone(chat_id: object) -> str | None:
    """Turn a personal WhatsApp chat id into E.164, or ``None``.

    ``"996557903999@c.us"`` and ``"996557903999:3@c.us"`` give ``"+996557903999"``.
    Groups (``@g.us``), broadcasts, newsletters and ``@lid`` ids give ``None``: the
    digits of a LID are not a phone number and must never be read as one.
    """
    if not isinstance(chat_id, str):
        return None
    match = _PERSONAL_CHAT_ID.fullmatch(chat_id)
    if match is None:
        return None
    return "+" + match.group(1)


def is_lid(chat_id: object) -> bool:
    return isinstance(chat_id, str) and chat_id.endswith("@lid")


def mask_phone(value: object) -> str:
    """``"+996557903999"`` -> ``"+996•••999"``: safe for logs, admin and the browser."""
    text = str(value or "")
    digits = "".join(ch for ch in text if ch.isdigit())
    if len(digits) < 7:
        return "•••"
    return f"+{digits[:3]}•••{digits[-3:]}"
