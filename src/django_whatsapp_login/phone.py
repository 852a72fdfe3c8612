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
    "country_code",
    "mask_phone",
    "mask_written",
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


# ITU-T E.164 country calling codes in use (assigned, plus the shared/international
# ones WhatsApp can carry). The set is prefix-free, so a number has at most one. A number
# whose leading digits are none of these (``+89...``, what a Russian "8 9..." becomes
# with a plus in front) cannot be anybody's WhatsApp id.
_COUNTRY_CODES = frozenset(
    "1 7 20 27 30 31 32 33 34 36 39 40 41 43 44 45 46 47 48 49 51 52 53 54 55 56 57 58 "
    "60 61 62 63 64 65 66 81 82 84 86 90 91 92 93 94 95 98 "
    "211 212 213 216 218 220 221 222 223 224 225 226 227 228 229 230 231 232 233 234 235 "
    "236 237 238 239 240 241 242 243 244 245 246 247 248 249 250 251 252 253 254 255 256 "
    "257 258 260 261 262 263 264 265 266 267 268 269 290 291 297 298 299 "
    "350 351 352 353 354 355 356 357 358 359 370 371 372 373 374 375 376 377 378 379 380 "
    "381 382 383 385 386 387 389 420 421 423 "
    "500 501 502 503 504 505 506 507 508 509 590 591 592 593 594 595 596 597 598 599 "
    "670 672 673 674 675 676 677 678 679 680 681 682 683 685 686 687 688 689 690 691 692 "
    "800 808 850 852 853 855 856 870 878 880 881 882 883 886 888 "
    "960 961 962 963 964 965 966 967 968 970 971 972 973 974 975 976 977 979 "
    "992 993 994 995 996 998".split()
)

_NATIONAL_HINT = (
    "write it as +<country code> <number>, or set WHATSAPP_LOGIN_DEFAULT_REGION "
    '(e.g. "RU" or "KG") to read national formats such as 8 (912) ... or 0555 ...'
)


def country_code(digits: str) -> str | None:
    """The E.164 country calling code ``digits`` starts with, or ``None``."""
    for length in (1, 2, 3):
        if digits[:length] in _COUNTRY_CODES:
            return digits[:length]
    return None


def normalize_phone(value: str, region: str | None = None) -> str:
    """Return ``value`` as E.164 (``"+996557903999"``) or raise :class:`InvalidPhoneNumber`.

    A number is read as international only when it says so: a leading ``+``
    (``"+996 557 903-999"``, ``"(+996) 557903999"``) or ``00`` (``"00996557903999"``),
    followed by a country calling code in use. Separators (spaces, dashes, dots, slashes,
    parentheses) are dropped.

    Anything else is a national format (``"8 (912) 000-11-22"`` in Russia,
    ``"0555 000 000"`` in Kyrgyzstan) or bare digits, whose country cannot be known from
    the text: ``"89120001122"`` is not ``+89120001122``. Such input is read only with a
    region: pass ``region`` (``"RU"``) or set ``WHATSAPP_LOGIN_DEFAULT_REGION``, and install
    the optional ``phonenumbers`` package (``pip install
    "django-whatsapp-login[phonenumbers]"``). Without them it is refused, never guessed,
    and the error says what to set.
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
        if text.isascii() and text.isdigit():
            raise InvalidPhoneNumber(
                f"{mask_written(value)} has no country code (no + in front), so it cannot be "
                f"read for sure: {_NATIONAL_HINT}."
            )
        raise InvalidPhoneNumber(f"Not an international phone number: {mask_written(value)}")
    if not digits.isascii() or not _E164_DIGITS.fullmatch(digits):
        raise InvalidPhoneNumber(f"Not an international phone number: {mask_written(value)}")
    if country_code(digits) is None:
        raise InvalidPhoneNumber(
            f"{mask_written(value)} does not start with a country code in use; {_NATIONAL_HINT}."
        )
    return "+" + digits


def _parse_national(value: str, region: str) -> str:
    try:
        import phonenumbers
    except ImportError:
        raise InvalidPhoneNumber(
            f"{mask_written(value)} is in a national format (WHATSAPP_LOGIN_DEFAULT_REGION="
            f"{region!r}), and reading it needs the 'phonenumbers' package: "
            'pip install "django-whatsapp-login[phonenumbers]".'
        ) from None
    try:
        parsed = phonenumbers.parse(value, region.upper())
    except phonenumbers.NumberParseException:
        raise InvalidPhoneNumber(
            f"Not a phone number in region {region.upper()}: {mask_written(value)}"
        ) from None
    if not phonenumbers.is_possible_number(parsed):
        raise InvalidPhoneNumber(
            f"Not a possible phone number in region {region.upper()}: {mask_written(value)}"
        )
    result = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    if not _E164_DIGITS.fullmatch(result[1:]) or country_code(result[1:]) is None:
        raise InvalidPhoneNumber(f"Not a phone number: {mask_written(value)}")
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


def mask_written(value: object) -> str:
    """A phone as it was written, digits hidden but its shape kept.

    ``"8 (912) 000-11-22"`` -> ``"8 (91•) •••-••-22"``: the first three and the last two
    digits stay, every separator stays. Used where the written form matters (an error,
    the phone audit), so that a stored ``"+7 912 ..."`` and its E.164 form look different
    while neither is printed in full.
    """
    text = str(value or "")
    total = sum(ch.isdigit() for ch in text)
    if total < 7:
        return "•" * len(text) if text else "•••"
    seen = 0
    out = []
    for ch in text:
        if ch.isdigit():
            seen += 1
            out.append(ch if seen <= 3 or seen > total - 2 else "•")
        else:
            out.append(ch)
    return "".join(out).strip()


def mask_phone(value: object) -> str:
    """``"+996557903999"`` -> ``"+996•••999"``: safe for logs, admin and the browser."""
    text = str(value or "")
    digits = "".join(ch for ch in text if ch.isdigit())
    if len(digits) < 7:
        return "•••"
    return f"+{digits[:3]}•••{digits[-3:]}"
