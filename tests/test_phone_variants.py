"""National formats (WHATSAPP_LOGIN_DEFAULT_REGION, the phonenumbers extra) and the WhatsApp
id variants of Brazil, Mexico and Argentina that the default resolver looks up."""

from __future__ import annotations

import pytest

from django_whatsapp_login.phone import InvalidPhoneNumber, normalize_phone, whatsapp_variants
from django_whatsapp_login.resolvers import default_resolver, find_users

pytest.importorskip("phonenumbers")


@pytest.mark.parametrize(
    ("value", "region", "expected"),
    [
        ("0700 123 456", "KG", "+996700123456"),
        ("0700123456", "kg", "+996700123456"),  # the region is case-insensitive
        ("(11) 98765-4321", "BR", "+5511987654321"),
        ("+996 700 123 456", "KG", "+996700123456"),  # international stays international
        # The human formats of the original system's users (obviously fake numbers).
        ("8 (912) 000-11-22", "RU", "+79120001122"),  # Russia's trunk 8
        ("8 912 000 11 22", "RU", "+79120001122"),
        ("8 701 000 11 22", "KZ", "+77010001122"),  # Kazakhstan writes the trunk 8 too
        ("+7 912 000 11 22", "RU", "+79120001122"),
        ("+7 912 000 11 22", "KG", "+79120001122"),  # a + wins over the region
        ("0555 000 000", "KG", "+996555000000"),
        ("996555000000", "KG", "+996555000000"),  # bare digits with the country code
    ],
)
def test_national_formats_with_a_region(value, region, expected):
    assert normalize_phone(value, region=region) == expected


@pytest.mark.parametrize("value", ["not a phone", "0700", "07001234567890123"])
def test_unreadable_national_numbers_are_refused(value):
    with pytest.raises(InvalidPhoneNumber):
        normalize_phone(value, region="KG")


def test_default_region_setting_is_read_on_each_call(settings):
    with pytest.raises(InvalidPhoneNumber):
        normalize_phone("0700 123 456")
    settings.WHATSAPP_LOGIN_DEFAULT_REGION = "KG"
    assert normalize_phone("0700 123 456") == "+996700123456"


@pytest.mark.parametrize(
    ("phone", "variants"),
    [
        ("+996700123456", ["+996700123456"]),
        # Brazil: WhatsApp ids of older accounts lack the mobile 9th digit, and vice versa.
        ("+551187654321", ["+551187654321", "+5511987654321"]),
        ("+5511987654321", ["+5511987654321", "+551187654321"]),
        ("+551132654321", ["+551132654321"]),  # a landline: no 9th digit to add
        # Mexico: ids carry a 1 after 52 that the dialled number no longer has.
        ("+5215512345678", ["+5215512345678", "+525512345678"]),
        ("+525512345678", ["+525512345678", "+5215512345678"]),
        # Argentina: mobile ids carry a 9 after 54.
        ("+5491123456789", ["+5491123456789", "+541123456789"]),
        ("+541123456789", ["+541123456789", "+5491123456789"]),
    ],
)
def test_whatsapp_variants(phone, variants):
    assert whatsapp_variants(phone) == variants


@pytest.mark.django_db
def test_default_resolver_finds_a_brazilian_user_under_the_other_form(make_user):
    user = make_user("+5511987654321")  # stored with the 9th digit
    assert default_resolver("+551187654321") == user  # the WhatsApp id without it
    other = make_user("+551187654321")
    assert len(find_users("+551187654321")) == 2
    assert default_resolver("+551187654321") is None  # both forms stored: nobody
    assert other.pk != user.pk
