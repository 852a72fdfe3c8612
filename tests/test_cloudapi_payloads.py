"""Cloud API webhook bodies -> neutral IncomingMessage values (gateways/cloudapi/payloads.py).

Fixtures under tests/payloads/cloudapi/ follow Meta's webhook reference (fake ids); smaller
cases are built with tests/fake_cloudapi.py.
"""

from __future__ import annotations

import copy
import json
import logging

import pytest

from django_whatsapp_login.gateways import Ignored, IncomingMessage
from django_whatsapp_login.gateways.cloudapi import payloads
from django_whatsapp_login.gateways.cloudapi.gateway import CloudAPIGateway
from django_whatsapp_login.gateways.cloudapi.payloads import (
    MAX_BODY_BYTES,
    MAX_TEXT_CHARS,
    parse_delivery,
    read_delivery,
)
from django_whatsapp_login.senders import BSUID, PHONE, USERNAME, SenderIds, WhatsAppId

from .fake_cloudapi import (
    PHONE_NUMBER_ID,
    USER_BSUID,
    USER_DIGITS,
    envelope,
    load,
    text_delivery,
)

USER_PHONE = "+" + USER_DIGITS


def only(data) -> IncomingMessage:
    delivery = read_delivery(data)
    assert len(delivery.messages) == 1, delivery
    return delivery.messages[0]


def skipped(data) -> list[str]:
    delivery = read_delivery(data)
    assert delivery.messages == ()
    return [item.reason for item in delivery.skipped]


def first_message(data) -> dict:
    return data["entry"][0]["changes"][0]["value"]["messages"][0]


# --- the fixtures ----------------------------------------------------------------------


def test_text_message():
    message = only(load("text.json"))
    assert message == IncomingMessage(
        gateway="cloudapi",
        business=PHONE_NUMBER_ID,
        chat_id=USER_DIGITS,
        message_id="wamid.HBgMOTk2NTU1MDAwMTIzFQIAEhgURkFLRTAwMDAwMDAwMDAwMDAwMDEA",
        timestamp=1796000000,
        text="AMT LOGIN 7KQ3XJP2MZ4LBC6D",
        senders=SenderIds.of([WhatsAppId(PHONE, USER_PHONE), WhatsAppId(BSUID, USER_BSUID)]),
    )
    assert message.senders.phone == USER_PHONE
    assert message.senders.bsuid == USER_BSUID
    assert not message.senders.unreadable and not message.senders.contradictory


def test_several_messages_keep_their_order_and_their_own_senders():
    delivery = read_delivery(load("several_messages.json"))
    assert [m.text for m in delivery.messages] == ["AMT LOGIN 7KQ3XJP2MZ4LBC6D", "hello"]
    mine, theirs = delivery.messages
    assert mine.senders.phones == [USER_PHONE]
    assert theirs.senders.phones == ["+996555000456"]
    assert theirs.senders.bsuids == ["KG.1000000000000000456"]
    assert theirs.chat_id == "996555000456"
    # The reaction between them and the status in the second entry are skipped, not fatal.
    assert sorted(item.reason for item in delivery.skipped) == ["reaction", "status"]


def test_interactive_button_reply():
    message = only(load("interactive_button_reply.json"))
    assert message.text == "Yes, it's me"
    assert message.button_id == "whatsapp_login:yes:42"
    assert message.quoted_id == "wamid.FAKESENT000000000007"
    assert message.senders.phone == USER_PHONE


def test_interactive_list_reply():
    message = only(load("interactive_list_reply.json"))
    assert (message.text, message.button_id) == ("No", "whatsapp_login:no:42")
    assert message.quoted_id == "wamid.FAKESENT000000000007"


def test_template_quick_reply_button():
    message = only(load("button.json"))
    assert (message.text, message.button_id) == ("Not me", "whatsapp_login:no:42")
    assert message.quoted_id == "wamid.FAKESENT000000000007"


def test_a_delivery_of_statuses_only_has_no_message():
    delivery = read_delivery(load("statuses.json"))
    assert delivery.messages == ()
    assert [item.message_id for item in delivery.skipped] == [
        "wamid.FAKESENT000000000002",
        "wamid.FAKESENT000000000003",
        "wamid.FAKESENT000000000004",
    ]
    assert delivery.reason == "status"


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("statuses.json", "status"),
        ("system_user_changed_user_id.json", "system"),
        ("image.json", "not_text"),
        ("unsupported.json", "unsupported"),
        ("errors.json", "errors"),
        ("account_update.json", "other_field"),
        ("group_message.json", "group_message"),
    ],
)
def test_what_is_skipped_and_why(name, reason):
    assert set(skipped(load(name))) == {reason}


def test_a_sender_with_a_username_and_no_phone():
    message = only(load("username_only.json"))
    senders = message.senders
    assert senders.phones == [] and senders.phone is None
    assert senders.bsuid == "KG.1000000000000000999"
    # Canonical username: one leading "@", lower case (Meta compares them without case).
    assert senders.usernames == ["@tenant.fake_01"]
    assert message.chat_id == "KG.1000000000000000999"
    assert senders.key == "KG.1000000000000000999"
    assert not senders.unreadable


@pytest.mark.parametrize("name", ["forwarded.json", "frequently_forwarded.json"])
def test_forwarded_messages_are_flagged(name):
    message = only(load(name))
    assert message.forwarded is True
    assert message.text == "AMT LOGIN 7KQ3XJP2MZ4LBC6D"


def test_a_message_without_context_is_not_forwarded():
    assert only(load("text.json")).forwarded is False


# --- the envelope --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ([], "not_an_object"),
        ("x", "not_an_object"),
        ({"object": "page", "entry": []}, "not_whatsapp_business_account"),
        ({"entry": []}, "not_whatsapp_business_account"),
        ({"object": "whatsapp_business_account"}, "bad_entry"),
        ({"object": "whatsapp_business_account", "entry": {}}, "bad_entry"),
    ],
)
def test_bodies_that_are_no_delivery_are_ignored_as_a_whole(data, reason):
    with pytest.raises(Ignored) as caught:
        read_delivery(data)
    assert caught.value.reason == reason


def test_an_empty_delivery_has_no_message():
    delivery = read_delivery({"object": "whatsapp_business_account", "entry": []})
    assert delivery.messages == () and delivery.reason == "no_messages"


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda d: d["entry"].insert(0, "x"), "bad_entry"),
        (lambda d: d["entry"].insert(0, {"changes": None}), "bad_entry"),
        (lambda d: d["entry"][0]["changes"].insert(0, 7), "bad_change"),
        (lambda d: d["entry"][0]["changes"].insert(0, {"field": "x", "value": {}}), "other_field"),
        (lambda d: d["entry"][0]["changes"].insert(0, {"field": "messages"}), "bad_value"),
    ],
)
def test_a_broken_part_does_not_hide_the_good_message(mutate, reason):
    data = load("text.json")
    mutate(data)
    delivery = read_delivery(data)
    assert [m.text for m in delivery.messages] == ["AMT LOGIN 7KQ3XJP2MZ4LBC6D"]
    assert [item.reason for item in delivery.skipped] == [reason]


def test_a_bad_message_next_to_a_good_one_is_skipped_alone():
    data = load("text.json")
    value = data["entry"][0]["changes"][0]["value"]
    bad = copy.deepcopy(value["messages"][0])
    bad["timestamp"] = True
    value["messages"].insert(0, bad)
    value["messages"].insert(0, "not a message")
    delivery = read_delivery(data)
    assert len(delivery.messages) == 1
    assert [item.reason for item in delivery.skipped] == ["bad_message", "bad_timestamp"]


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda v: v.pop("metadata"), "bad_metadata"),
        (lambda v: v["metadata"].pop("phone_number_id"), "bad_metadata"),
        (lambda v: v["metadata"].update(phone_number_id=100000000000001), "bad_metadata"),
        (lambda v: v["metadata"].update(phone_number_id="1\x00"), "bad_metadata"),
        (lambda v: v.update(messages={"id": "x"}), "bad_messages"),
        (lambda v: v.update(messaging_product="instagram"), "not_whatsapp"),
    ],
)
def test_a_value_we_cannot_read_skips_its_messages(mutate, reason):
    data = load("text.json")
    mutate(data["entry"][0]["changes"][0]["value"])
    assert skipped(data) == [reason]


def test_statuses_next_to_messages_do_not_hide_them():
    data = load("text.json")
    statuses = load("statuses.json")["entry"][0]["changes"][0]["value"]["statuses"]
    data["entry"][0]["changes"][0]["value"]["statuses"] = statuses
    delivery = read_delivery(data)
    assert len(delivery.messages) == 1
    assert [item.reason for item in delivery.skipped] == ["status"] * 3


def test_unknown_fields_of_a_message_are_tolerated():
    data = load("text.json")
    first_message(data).update(from_logical_id="95000000000001", identity_key_hash="FAKE")
    assert only(data).text == "AMT LOGIN 7KQ3XJP2MZ4LBC6D"


# --- strict JSON and limits ----------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"NaN",
        b'{"object": NaN}',
        b'{"a": -Infinity}',
        b"\xef\xbb\xbf{}",
        b"\xff\xfe{}",
        b"{" * 1,
        b'"\\ud800',
        b"[" * 100_000 + b"]" * 100_000,
        b'{"object": "whatsapp_business_account"} trailing',
    ],
)
def test_malformed_bodies(body):
    with pytest.raises(Ignored) as caught:
        parse_delivery(body)
    assert caught.value.reason in {"malformed_json", "too_large"}


def test_a_body_over_the_limit_is_not_parsed(monkeypatch):
    calls = []
    monkeypatch.setattr(payloads, "loads_json", calls.append)
    with pytest.raises(Ignored) as caught:
        parse_delivery(b" " * (MAX_BODY_BYTES + 1))
    assert caught.value.reason == "too_large"
    assert calls == []


def test_a_body_at_the_limit_is_parsed():
    body = json.dumps(load("text.json")).encode()
    body += b" " * (MAX_BODY_BYTES - len(body))
    assert len(parse_delivery(body).messages) == 1


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1796000000", 1796000000),
        (1796000000, 1796000000),
        ("1", 1),
        (True, None),
        (False, None),
        (0, None),
        ("0", None),
        (-5, None),
        ("-5", None),
        ("1796000000.5", None),
        (1796000000.0, None),
        ("1e9", None),
        ("\uff11\uff17\uff19\uff16", None),
        ("9" * 13, None),
        (None, None),
    ],
)
def test_timestamps(value, expected):
    data = load("text.json")
    first_message(data)["timestamp"] = value
    if expected is None:
        assert skipped(data) == ["bad_timestamp"]
    else:
        assert only(data).timestamp == expected


@pytest.mark.parametrize(
    ("message_id", "ok"),
    [
        ("wamid." + "A" * 122, True),
        ("wamid." + "A" * 123, False),
        ("", False),
        (None, False),
        (12345, False),
        ("wamid.\x00", False),
        ("wamid.\n", False),
        ("wamid.\ud800", False),
    ],
)
def test_message_ids(message_id, ok):
    data = load("text.json")
    first_message(data)["id"] = message_id
    if ok:
        assert only(data).message_id == message_id
    else:
        assert skipped(data) == ["bad_message_id"]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("x" * MAX_TEXT_CHARS, None),
        ("AMT LOGIN\n7KQ3XJP2MZ4LBC6D\t", None),
        ("", None),
        ("x" * (MAX_TEXT_CHARS + 1), "text_too_long"),
        (None, "bad_text"),
        (42, "bad_text"),
        (["AMT LOGIN"], "bad_text"),
        ("AMT\x00LOGIN", "bad_text"),
        ("AMT LOGIN \ud800", "bad_text"),
    ],
)
def test_texts(text, reason):
    data = load("text.json")
    first_message(data)["text"]["body"] = text
    if reason is None:
        assert only(data).text == text
    else:
        assert skipped(data) == [reason]


def test_the_type_decides_not_the_fields_present():
    # A reaction that also carries a text body is still a reaction.
    data = load("text.json")
    first_message(data)["type"] = "reaction"
    assert skipped(data) == ["reaction"]
    first_message(data)["type"] = "Text"
    assert skipped(data) == ["unknown_type"]
    first_message(data)["type"] = None
    assert skipped(data) == ["unknown_type"]
    # Found by the fuzz test: an unhashable type once raised TypeError.
    first_message(data)["type"] = ["text"]
    assert skipped(data) == ["unknown_type"]


@pytest.mark.parametrize(
    ("interactive", "reason"),
    [
        ({"type": "nfm_reply", "nfm_reply": {"response_json": "{}"}}, "unsupported_interactive"),
        ({"type": "button_reply"}, "bad_interactive"),
        ({"type": "button_reply", "button_reply": {"id": "yes"}}, "bad_interactive"),
        ({"type": "button_reply", "button_reply": {"title": "Yes"}}, "bad_button_id"),
        ({"type": "button_reply", "button_reply": {"id": "", "title": "Yes"}}, "bad_button_id"),
        ({"type": "button_reply", "button_reply": {"id": "x" * 257, "title": "Yes"}}, None),
        ({"type": "button_reply", "button_reply": {"id": "a\x07", "title": "Yes"}}, None),
        ("button_reply", "bad_interactive"),
    ],
)
def test_broken_interactive_replies(interactive, reason):
    data = load("interactive_button_reply.json")
    first_message(data)["interactive"] = interactive
    assert skipped(data) == [reason or "bad_button_id"]


def test_a_button_id_of_256_characters_is_read():
    data = load("interactive_button_reply.json")
    first_message(data)["interactive"]["button_reply"]["id"] = "x" * 256
    assert only(data).button_id == "x" * 256


def test_a_quick_reply_without_payload_is_skipped():
    data = load("button.json")
    del first_message(data)["button"]["payload"]
    assert skipped(data) == ["bad_button_id"]


@pytest.mark.parametrize(
    "context",
    [
        {"forwarded": "true"},
        {"forwarded": 1},
        {"frequently_forwarded": 1},
        {"frequently_forwarded": "yes"},
        "forwarded",
        [],
    ],
)
def test_a_forward_flag_of_the_wrong_type_is_never_read_as_not_forwarded(context):
    data = load("text.json")
    first_message(data)["context"] = context
    assert skipped(data) == ["bad_context"]


def test_a_malformed_quoted_id_is_dropped_not_fatal():
    data = load("interactive_button_reply.json")
    first_message(data)["context"]["id"] = "x\x00"
    message = only(data)
    assert message.quoted_id == "" and message.button_id == "whatsapp_login:yes:42"


# --- who wrote -----------------------------------------------------------------------------


def test_a_phone_only_sender_from_before_bsuids():
    message = only(text_delivery("hi", user_id=None))
    assert message.senders.ids == (WhatsAppId(PHONE, USER_PHONE),)
    assert message.chat_id == USER_DIGITS


@pytest.mark.parametrize(
    "bad_from", ["+996555000123", "996 555 000 123", "89120001122", "123", "9" * 16, 996555000123]
)
def test_a_malformed_phone_makes_the_sender_unreadable(bad_from):
    data = text_delivery("hi")
    first_message(data)["from"] = bad_from
    message = only(data)
    assert message.senders.unreadable
    # Still answerable at its business-scoped user id; the core refuses the login.
    assert message.chat_id == USER_BSUID


@pytest.mark.parametrize("bad", ["kg.100", "KG100", "KG.", "KG.12-34", "K.1", 5, "KG." + "1" * 129])
def test_a_malformed_user_id_makes_the_sender_unreadable(bad):
    data = text_delivery("hi")
    first_message(data)["from_user_id"] = bad
    data["entry"][0]["changes"][0]["value"]["contacts"][0]["user_id"] = bad
    message = only(data)
    assert message.senders.unreadable
    assert message.chat_id == USER_DIGITS


def test_a_malformed_wa_id_in_the_contact_makes_the_sender_unreadable():
    data = text_delivery("hi")
    data["entry"][0]["changes"][0]["value"]["contacts"][0]["user_id"] = "KG.55"
    first_message(data)["from_user_id"] = "KG.55"
    data["entry"][0]["changes"][0]["value"]["contacts"][0]["wa_id"] = "abc"
    assert only(data).senders.unreadable


def test_a_sender_with_neither_id_is_skipped():
    data = text_delivery("hi", wa_id=None, user_id=None)
    assert skipped(data) == ["no_sender"]
    data = text_delivery("hi")
    first_message(data).update({"from": "x", "from_user_id": "y"})
    assert skipped(data) == ["bad_sender"]


def test_a_contact_that_disagrees_makes_the_sender_contradictory():
    data = text_delivery("hi")
    data["entry"][0]["changes"][0]["value"]["contacts"][0]["user_id"] = "KG.1000000000000000666"
    senders = only(data).senders
    assert senders.contradictory
    assert senders.bsuids == [USER_BSUID, "KG.1000000000000000666"]


def test_contacts_of_other_senders_are_not_mixed_in():
    data = text_delivery("hi")
    value = data["entry"][0]["changes"][0]["value"]
    value["contacts"].insert(0, {"wa_id": "996555000456", "user_id": "KG.456", "profile": {}})
    assert only(data).senders.phones == [USER_PHONE]


@pytest.mark.parametrize("username", ["ab", "bad name", "имя", "123", "x" * 36, 7, ""])
def test_a_malformed_username_is_dropped(username):
    data = text_delivery("hi", username=username)
    senders = only(data).senders
    assert senders.usernames == []
    assert not senders.unreadable


def test_a_username_with_an_at_sign():
    senders = only(text_delivery("hi", username="@Maria.Lopez")).senders
    assert senders.usernames == ["@maria.lopez"]
    assert [ident.kind for ident in senders.ids] == [PHONE, BSUID, USERNAME]


def test_masked_ids_never_show_a_whole_bsuid_or_username():
    senders = only(load("username_only.json")).senders
    masked = [ident.masked for ident in senders.ids]
    assert masked == ["KG.•••0999", "@t•••"]
    assert senders.masked == "KG.•••0999"
    for ident in senders.ids:
        assert ident.value not in senders.masked


# --- the gateway on top: our phone number id only ------------------------------------------


@pytest.fixture
def gateway(cloudapi_settings):
    return CloudAPIGateway()


def test_the_gateway_parses_our_messages(gateway):
    messages = gateway.parse(json.dumps(load("several_messages.json")).encode())
    assert [m.text for m in messages] == ["AMT LOGIN 7KQ3XJP2MZ4LBC6D", "hello"]


def test_the_gateway_ignores_a_delivery_without_messages(gateway):
    with pytest.raises(Ignored) as caught:
        gateway.parse(json.dumps(load("statuses.json")).encode())
    assert caught.value.reason == "status"


def test_the_gateway_drops_messages_for_another_phone_number_id(gateway, caplog):
    ours = text_delivery("mine")
    theirs = text_delivery("theirs")
    theirs["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"] = "100000000000002"
    both = {"object": ours["object"], "entry": theirs["entry"] + ours["entry"]}
    with caplog.at_level(logging.WARNING, logger="django_whatsapp_login"):
        assert [m.text for m in gateway.parse(json.dumps(both).encode())] == ["mine"]
    assert "another phone number id" in caplog.text
    with pytest.raises(Ignored) as caught:
        gateway.parse(json.dumps(theirs).encode())
    assert caught.value.reason == "wrong_phone_number_id"


def test_the_gateway_fails_closed_without_a_phone_number_id(gateway, settings):
    settings.WHATSAPP_LOGIN_CLOUD_API_PHONE_NUMBER_ID = ""
    with pytest.raises(Ignored) as caught:
        gateway.parse(json.dumps(load("text.json")).encode())
    assert caught.value.reason == "no_phone_number_id"


def test_envelope_helper_is_what_the_fixtures_look_like():
    built = envelope({"messages": [first_message(load("text.json"))], "contacts": []})
    assert read_delivery(built).messages[0].text == "AMT LOGIN 7KQ3XJP2MZ4LBC6D"
