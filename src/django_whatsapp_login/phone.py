"""The only place where phone numbers and WhatsApp chat ids are interpreted.

Everything else in the app works with E.164 strings (``"+996557903999"``).
"""

from __future__ import annotations

import re

from .exceptions import InvalidPhoneNumber

__all__ = [
    "InvalidPhoneNumber",
    "chat_id_to_lid",
    "chat_id_to_phone",
    "mask_phone",
    "normalize_phone",
    "phone_digits",
    "whatsapp_variants",
]

# E.164: at most 15 digits, the country code never starts with 0. Real numbers have at
# least 8 digits with their country code (the shortest national numbers are 4-5 digits
# plus a 3-digit code); 7 is kept as the floor to stay permissive.
_E164_DIGITS = re.compile(r"[1-9][0-9]{6,14}")
# Separators people type between digit groups.
_SEPARATORS = re.compile(r"[\s\-.()/\u00a0\u2010-\u2015]+")
# A personal WhatsApp id: the international number, optionally a ":<device>" suffix.
_PERSONAL_CHAT_ID = re.compile(r"([1-9][0-9]{6,14})(?::[0-9]{1,4})?@c\.us")
# A WhatsApp LID: an opaque number (15 digits in every sample seen), optionally a device.
_LID_CHAT_ID = re.compile(r"([1-9][0-9]{4,23})(?::[0-9]{1,4})?@lid")


def normalize_phone(value: str, region: str | None = None) -> str:
    """Return ``value`` as E.164 (``"+996557903999"``) or raise :class:`InvalidPhoneNumber`.

    Accepts international numbers in the usual written forms: ``"+996 557 903-999"``,
    ``"(+996) 557903999"``, ``"00996557903999"`` and bare digits ``"996557903999"``
    (read as international).

    National formats (``"0557 903 999"``) need to know the country: pass ``region``
    (``"KG"``) or set ``WHATSAPP_LOGIN_DEFAULT_REGION``, and install the optional
    ``phonenumbers`` package (``pip install django-whatsapp-login[phonenumbers]``).
    Without them a national number is refused rather than guessed.
    """
    if not isinstance(value, str):
        raise InvalidPhoneNumber("A phone number must be a string.")
    text = _SEPARATORS.sub("", value.strip())
    if text.startswith("+"):
        digits = text[1:]
    elif text.startswith("00"):
        digits = text[2:]
    else:
        if region is None:
            from .conf import app_settings

            region = app_settings.DEFAULT_REGION
        if region:
            return _parse_national(value, region)
        digits = text
    if not digits.isascii() or not _E164_DIGITS.fullmatch(digits):
        raise InvalidPhoneNumber(f"Not an international phone number: {mask_phone(value)!s}")
    return "+" + digits


def _parse_national(value: str, region: str) -> str:
    try:
        import phonenumbers
    except ImportError:  # pragma: no cover - depends on the optional extra
        raise InvalidPhoneNumber(
            "Reading national phone formats needs the 'phonenumbers' package."
        ) from None
    try:
        parsed = phonenumbers.parse(value, region.upper())
    except phonenumbers.NumberParseException:
        raise InvalidPhoneNumber(f"Not a phone number: {mask_phone(value)}") from None
    if not phonenumbers.is_possible_number(parsed):
        raise InvalidPhoneNumber(f"Not a possible phone number: {mask_phone(value)}")
    result = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    if not _E164_DIGITS.fullmatch(result[1:]):
        raise InvalidPhoneNumber(f"Not a phone number: {mask_phone(value)}")
    return result


def whatsapp_variants(phone: str) -> list[str]:
    """The E.164 forms under which the owner of WhatsApp id ``phone`` may be stored.

    WhatsApp's id is not always the number people write (see Green API's notes on
    countries): in Brazil mobile numbers got a 9th digit that older WhatsApp ids lack,
    Mexican WhatsApp ids carry a ``1`` after ``52`` that the dialled number no longer
    has, and Argentine mobile ids carry a ``9`` after ``54``. The first item is ``phone``
    itself; the others are only added for those countries and lengths.
    """
    digits = phone.lstrip("+")
    variants = [phone]
    if digits.startswith("55") and len(digits) in (12, 13):
        area, local = digits[2:4], digits[4:]
        if len(local) == 8 and local[0] in "6789":  # id without the 9th digit
            variants.append(f"+55{area}9{local}")
        elif len(local) == 9 and local[0] == "9":  # number with it; id may lack it
            variants.append(f"+55{area}{local[1:]}")
    elif digits.startswith("521") and len(digits) == 13:
        variants.append("+52" + digits[3:])
    elif digits.startswith("52") and len(digits) == 12:
        variants.append("+521" + digits[2:])
    elif digits.startswith("549") and len(digits) == 13:
        variants.append("+54" + digits[3:])
    elif digits.startswith("54") and len(digits) == 12:
        variants.append("+549" + digits[2:])
    return variants


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


def chat_id_to_lid(chat_id: object) -> str | None:
    """Turn a LID chat id into its canonical form ``"<digits>@lid"``, or ``None``.

    ``"120650379300963@lid"`` and ``"120650379300963:7@lid"`` give
    ``"120650379300963@lid"``. Anything else (phones, groups, malformed ids) gives ``None``.
    """
    if not isinstance(chat_id, str):
        return None
    match = _LID_CHAT_ID.fullmatch(chat_id)
    if match is None:
        return None
    return match.group(1) + "@lid"


def is_lid(chat_id: object) -> bool:
    return isinstance(chat_id, str) and chat_id.endswith("@lid")


def mask_phone(value: object) -> str:
    """``"+996557903999"`` -> ``"+996•••999"``: safe for logs, admin and the browser."""
    text = str(value or "")
    digits = "".join(ch for ch in text if ch.isdigit())
    if len(digits) < 7:
        return "•••"
    return f"+{digits[:3]}•••{digits[-3:]}"
