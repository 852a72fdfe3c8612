"""Unit tests for django_whatsapp_login.phone (no database)."""

from __future__ import annotations

import pytest

from django_whatsapp_login.exceptions import InvalidPhoneNumber as ExportedInvalidPhoneNumber
from django_whatsapp_login.phone import (
    InvalidPhoneNumber,
    chat_id_to_phone,
    is_lid,
    mask_phone,
    normalize_phone,
    phone_digits,
)

# --- normalize_phone ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, expected",
    [
        ("+996557903999", "+996557903999"),
        ("+996 557 903 999", "+996557903999"),
        ("+996 557 903-999", "+996557903999"),
        ("+996-557-903-999", "+996557903999"),
        ("+996.557.903.999", "+996557903999"),
        ("(+996) 557903999", "+996557903999"),
        ("+996 (557) 90 39 99", "+996557903999"),
        ("+996/557/903999", "+996557903999"),
        ("00996557903999", "+996557903999"),
        ("00 996 557 903 999", "+996557903999"),
        ("  +996557903999  ", "+996557903999"),
        ("\t+996557903999\n", "+996557903999"),
        ("+996\u00a0557\u00a0903\u00a0999", "+996557903999"),  # no-break spaces
        ("+996\u2011557\u2013903\u2014999", "+996557903999"),  # typographic dashes
        ("+1 (415) 555-2671", "+14155552671"),
        ("+55 21 98765-4321", "+5521987654321"),
        ("+7 900 123-45-67", "+79001234567"),
        ("+1234567", "+1234567"),  # 7 digits: the permissive floor
        ("+123456789012345", "+123456789012345"),  # 15 digits: the E.164 maximum
    ],
)
def test_normalize_phone_accepts_international_forms(value, expected):
    assert normalize_phone(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "",
        "   ",
        "+",
        "00",
        "0557 903 999",  # national format with a trunk 0: the country is unknown
        "0557903999",
        "996557903999",  # bare digits: international or national? not for sure
        "8 (912) 000-11-22",  # Russia's trunk 8, not the country code +8...
        "89120001122",
        "+8 912 000 11 22",  # +89 is no country code
        "+89120001122",
        "+384 555 000 000",  # an unassigned code
        "+0996557903999",  # a country code never starts with 0
        "000996557903999",
        "+123456",  # 6 digits: too short
        "+1234567890123456",  # 16 digits: longer than E.164 allows
        "++996557903999",
        "+996557903999+",
        "+996 557 903 999 ext 12",
        "+996557903999x12",
        "tel:+996557903999",
        "996557903999@c.us",
        "+996_557_903_999",
        "+996,557,903,999",
        "+996557903999;",
        "abc",
        "+١٩٩٦٥٥٧٩٠٣٩٩٩",  # Arabic-Indic digits
        "+\uff19\uff19\uff16\uff15\uff15\uff17\uff19\uff10\uff13\uff19\uff19\uff19",  # full-width
        "+996557903999\u200b",  # zero-width space is not a separator
        "+996 557 903 999\u0000",
    ],
)
def test_normalize_phone_refuses(value):
    with pytest.raises(InvalidPhoneNumber):
        normalize_phone(value)


@pytest.mark.parametrize("value", [None, 996557903999, 9.96e11, b"+996557903999", ["+996"]])
def test_normalize_phone_refuses_non_strings(value):
    with pytest.raises(InvalidPhoneNumber):
        normalize_phone(value)


def test_invalid_phone_number_is_a_value_error():
    assert InvalidPhoneNumber is ExportedInvalidPhoneNumber
    assert issubclass(InvalidPhoneNumber, ValueError)
    with pytest.raises(ValueError):
        normalize_phone("nope")


def test_error_message_does_not_echo_the_full_number():
    with pytest.raises(InvalidPhoneNumber) as info:
        normalize_phone("0557 903 999 1234 5678")
    assert "0557 903 999" not in str(info.value)
    assert "557903999" not in str(info.value)


@pytest.mark.parametrize(
    "value, expected",
    [("+996 557 903 999", "996557903999"), ("00996557903999", "996557903999")],
)
def test_phone_digits(value, expected):
    assert phone_digits(value) == expected


def test_phone_digits_refuses_bad_input():
    with pytest.raises(InvalidPhoneNumber):
        phone_digits("0557 903 999")


# --- chat_id_to_phone --------------------------------------------------------------------


@pytest.mark.parametrize(
    "chat_id, expected",
    [
        ("996557903999@c.us", "+996557903999"),
        ("996557903999:3@c.us", "+996557903999"),
        ("996557903999:0@c.us", "+996557903999"),
        ("996557903999:12@c.us", "+996557903999"),
        ("79001234567@c.us", "+79001234567"),
        ("5521987654321@c.us", "+5521987654321"),
        ("1234567@c.us", "+1234567"),
        ("123456789012345@c.us", "+123456789012345"),
    ],
)
def test_chat_id_to_phone_personal_chats(chat_id, expected):
    assert chat_id_to_phone(chat_id) == expected


@pytest.mark.parametrize(
    "chat_id",
    [
        "120650379300963@lid",  # a LID: its digits are not a phone number
        "120650379300963:5@lid",
        "120363043968066561@g.us",
        "79001234567-1587570015@g.us",
        "status@broadcast",
        "120363225678901234@newsletter",
        "996557903999@s.whatsapp.net",
        "996557903999@C.US",
        "996557903999@c.us.evil",
        "996557903999@c.usx",
        "x996557903999@c.us",
        "+996557903999@c.us",
        "0996557903999@c.us",
        "123456@c.us",  # too short
        "1234567890123456@c.us",  # too long
        "996557903999:@c.us",
        "996557903999:abc@c.us",
        "996557903999:12345@c.us",
        "996557903999:3:4@c.us",
        "996 557 903 999@c.us",
        "996557903999@c.us\n",
        " 996557903999@c.us",
        "996557903999",
        "@c.us",
        "",
        "\uff19\uff19\uff16\uff15\uff15\uff17\uff19\uff10\uff13\uff19\uff19\uff19@c.us",
        "٩٩٦٥٥٧٩٠٣٩٩٩@c.us",
    ],
)
def test_chat_id_to_phone_refuses_everything_else(chat_id):
    assert chat_id_to_phone(chat_id) is None


@pytest.mark.parametrize("value", [None, 996557903999, b"996557903999@c.us", ["x@c.us"], {}])
def test_chat_id_to_phone_non_strings(value):
    assert chat_id_to_phone(value) is None


@pytest.mark.parametrize(
    "value, expected",
    [
        ("120650379300963@lid", True),
        ("996557903999@c.us", False),
        ("120363043968066561@g.us", False),
        ("lid", False),
        (None, False),
        (120650379300963, False),
    ],
)
def test_is_lid(value, expected):
    assert is_lid(value) is expected


# --- mask_phone --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, expected",
    [
        ("+996557903999", "+996•••999"),
        ("996557903999", "+996•••999"),
        ("+996 557 903 999", "+996•••999"),
        ("996557903999@c.us", "+996•••999"),
        ("+1234567", "+123•••567"),
        ("+123456", "•••"),
        ("", "•••"),
        (None, "•••"),
        ("120363043968066561@g.us", "+120•••561"),
        ("status@broadcast", "•••"),
    ],
)
def test_mask_phone(value, expected):
    assert mask_phone(value) == expected


@pytest.mark.parametrize("phone", ["+996557903999", "+5521987654321", "+79001234567"])
def test_mask_phone_hides_the_middle(phone):
    masked = mask_phone(phone)
    digits = phone[1:]
    assert digits not in masked
    assert digits[3:-3] not in masked
    assert masked.count("•") == 3


@pytest.mark.parametrize("value", ["8 (912) 000-11-22", "0555 000 000", "996555000000"])
def test_national_or_bare_digits_say_what_to_set(value, settings):
    settings.WHATSAPP_LOGIN_DEFAULT_REGION = ""
    with pytest.raises(InvalidPhoneNumber) as info:
        normalize_phone(value)
    message = str(info.value)
    assert "no country code" in message
    assert "WHATSAPP_LOGIN_DEFAULT_REGION" in message
    assert value not in message  # masked, with its written shape


def test_an_unassigned_country_code_is_refused_with_the_hint():
    with pytest.raises(InvalidPhoneNumber) as info:
        normalize_phone("+8 912 000 11 22")
    assert "country code" in str(info.value)
    assert "WHATSAPP_LOGIN_DEFAULT_REGION" in str(info.value)


def test_national_format_without_phonenumbers_says_what_to_install(settings, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "phonenumbers", None)  # import fails
    settings.WHATSAPP_LOGIN_DEFAULT_REGION = "RU"
    with pytest.raises(InvalidPhoneNumber) as info:
        normalize_phone("8 (912) 000-11-22")
    assert "django-whatsapp-login[phonenumbers]" in str(info.value)
    assert normalize_phone("+7 912 000 11 22") == "+79120001122"  # no extra needed


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("8 (912) 000-11-22", "8 (91•) •••-••-22"),
        ("+7 912 000 11 22", "+7 91• ••• •• 22"),
        ("+79120001122", "+791••••••22"),
        ("0555 000 000", "055• ••• •00"),
        ("123", "•••"),
    ],
)
def test_mask_written_keeps_the_shape_not_the_digits(value, masked):
    from django_whatsapp_login.phone import mask_written

    assert mask_written(value) == masked
