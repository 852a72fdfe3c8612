"""Authenticated webhook deliveries: every payload row of docs/threat-model.md §3 and the
Green API fixtures in tests/payloads/, checked on the HTTP answer *and* on the database.

Unless a test says otherwise, the body names the live attempt of a user who exists, so a
check that wrongly let it through would confirm the attempt and fail the test.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import timedelta
from typing import Any
from unittest import mock

import pytest
from django.test import Client, override_settings
from django.utils import timezone

from django_whatsapp_login import attempts, resolvers
from django_whatsapp_login.models import LoginAttempt, ProcessedMessage, Status

from .conftest import BUSINESS_WID, PAYLOADS, WebhookClient, incoming, start
from .webhook_helpers import (
    PAYLOAD_FILES,
    attempt_state,
    new_message_id,
    only_attempt,
    payload,
    processed,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("skip_qr_rendering")]


SENDER = "996700123456@c.us"
OTHER_SENDER = "996700654321@c.us"


@pytest.fixture
def login(browser, make_user):
    """An existing user and the browser's pending attempt."""
    user = make_user("+996700123456")
    data = start(browser)
    return {"user": user, "code": data["code"], "message": data["message"], "browser": browser}


def browser_status(browser: Client) -> dict[str, Any]:
    response = browser.get("/whatsapp/status/")
    assert response.status_code == 200, response.content
    return response.json()


def assert_answer(response, status: str, reason: str | None = None) -> None:
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == status, body
    if reason is not None:
        assert body.get("reason", "") == reason, body
    assert set(body) <= {"status", "reason"}


def assert_untouched(before, rows: int = 0) -> None:
    """Nothing happened to any attempt, and ``rows`` processed-message rows were written."""
    assert attempt_state() == before
    assert all(
        status == Status.PENDING for status in LoginAttempt.objects.values_list("status", flat=True)
    )
    assert LoginAttempt.objects.filter(user__isnull=False).count() == 0
    assert ProcessedMessage.objects.count() == rows


def assert_confirmed_for(user, browser: Client | None = None) -> LoginAttempt:
    attempt = only_attempt()
    assert attempt.status == Status.CONFIRMED
    assert attempt.user_id == user.pk
    assert attempt.confirmed_at is not None
    assert attempt.sender_masked == "+996•••456"
    if browser is not None:
        assert browser_status(browser)["status"] == "confirmed"
    return attempt


def complete_login(browser: Client, user) -> None:
    response = browser.post("/whatsapp/complete/")
    assert response.status_code == 200, response.content
    assert browser.get("/").content == f"Hello {user.username}".encode()


# --- the fixture files -------------------------------------------------------------------

CONFIRMING = [
    "text_message.json",
    "extended_text_message.json",
    "reply_quoted.json",
    "quoted_message_deprecated.json",
    "no_chat_name.json",
    "device_suffix_sender.json",
    # The shapes of issue 9: a phone on one side is enough (tests/test_lid_senders.py).
    "phone_chat_lid_sender.json",
    "lid_chat_phone_sender.json",
    "lid_device_suffix.json",
    "empty_sender.json",
    "missing_sender.json",
]

# (file, reason, processed-message rows written)
IGNORED = [
    ("group_message.json", "not_personal_chat", 0),
    ("status_broadcast.json", "not_personal_chat", 0),
    ("newsletter.json", "not_personal_chat", 0),
    ("reaction_message.json", "not_text_message", 0),
    ("reaction_login_text.json", "not_text_message", 0),
    ("edited_message.json", "not_text_message", 0),
    ("deleted_message.json", "not_text_message", 0),
    ("image_message_caption.json", "not_text_message", 0),
    ("sticker_message.json", "not_text_message", 0),
    ("poll_message.json", "not_text_message", 0),
    ("outgoing_message_received.json", "not_incoming_message", 0),
    ("outgoing_api_message_received.json", "not_incoming_message", 0),
    ("outgoing_message_status.json", "not_incoming_message", 0),
    ("state_instance_changed.json", "not_incoming_message", 0),
    ("status_instance_changed.json", "not_incoming_message", 0),
    ("incoming_call.json", "not_incoming_message", 0),
    ("device_info.json", "not_incoming_message", 0),
    ("incoming_block.json", "not_incoming_message", 0),
    ("quota_exceeded.json", "not_incoming_message", 0),
    ("unknown_type.json", "not_incoming_message", 0),
    ("swe001_placeholder.json", "no_login_text", 0),
    ("foreign_instance.json", "wrong_instance", 0),
    ("foreign_wid.json", "wrong_business_number", 0),
    ("max_v3_numeric_chat.json", "not_whatsapp", 0),
]

REJECTED = [("lid_sender.json", "lid_sender"), ("lid_empty_sender.json", "lid_sender")]

#: Forwarded login texts (``isForwarded``/``forwardingScore``): refused, never ignored (T3).
FORWARDED = ["forwarded_text_message.json", "forwarded_extended_text_message.json"]


def test_every_payload_file_is_covered():
    covered = set(CONFIRMING) | {row[0] for row in IGNORED} | {row[0] for row in REJECTED}
    covered |= set(FORWARDED)
    assert set(PAYLOAD_FILES) == covered


@pytest.mark.parametrize("name", PAYLOAD_FILES)
def test_payload_files_are_realistic(name):
    data = json.loads((PAYLOADS / name).read_text(encoding="utf-8"))
    assert isinstance(data["typeWebhook"], str)
    expected_instance = 1101999999 if name == "foreign_instance.json" else 1101000001
    assert data["instanceData"]["idInstance"] == expected_instance
    assert isinstance(data["timestamp"], int)
    if data["instanceData"]["typeInstance"] == "whatsapp" and name != "state_instance_changed.json":
        assert data["instanceData"]["wid"] in (BUSINESS_WID, "996555999999@c.us")


@pytest.mark.parametrize("name", CONFIRMING)
def test_login_payloads_confirm(webhook, login, name):
    body = payload(name, login["code"])
    response = webhook.post(body)
    assert_answer(response, "confirmed", "")
    assert_confirmed_for(login["user"], login["browser"])
    assert processed() == [(body["senderData"]["chatId"], body["idMessage"])]
    complete_login(login["browser"], login["user"])


@pytest.mark.parametrize("name, reason, rows", IGNORED)
def test_ignored_payloads(webhook, login, name, reason, rows):
    before = attempt_state()
    response = webhook.post(payload(name, login["code"]))
    assert_answer(response, "ignored", reason)
    assert_untouched(before, rows=rows)
    assert browser_status(login["browser"])["status"] == "pending"


@pytest.mark.parametrize("name, reason", REJECTED)
def test_lid_sender_rejects_the_attempt(webhook, login, name, reason):
    response = webhook.post(payload(name, login["code"]))
    assert_answer(response, "rejected", reason)
    attempt = only_attempt()
    assert attempt.status == Status.REJECTED
    assert attempt.reason == reason
    assert attempt.user_id is None
    # The LID digits are never shown as a number; the LID is kept for the phone fallback.
    assert attempt.sender_masked == "•••0963@lid"
    assert attempt.sender_lid == "120650379300963@lid"
    status = browser_status(login["browser"])
    assert status["status"] == "rejected"
    assert login["browser"].post("/whatsapp/complete/").status_code == 409


@pytest.mark.parametrize("name", FORWARDED)
def test_forwarded_login_text_rejects_the_attempt(webhook, login, name):
    body = payload(name, login["code"])
    response = webhook.post(body)
    assert_answer(response, "rejected", "forwarded")
    attempt = only_attempt()
    assert attempt.status == Status.REJECTED and attempt.reason == "forwarded"
    assert attempt.user_id is None
    assert processed() == [(body["senderData"]["chatId"], body["idMessage"])]
    status = browser_status(login["browser"])
    assert status["status"] == "rejected" and status["reason"] == "forwarded"
    assert status["status_message"].startswith("This code was forwarded")
    assert login["browser"].post("/whatsapp/complete/").status_code == 409


def test_lid_sender_with_digits_of_a_real_user_never_logs_in(webhook, browser, make_user):
    # Even if a user's phone happens to equal the LID's digits, a LID is not a number.
    make_user("+120650379300963")
    data = start(browser)
    response = webhook.post(payload("lid_sender.json", data["code"]))
    assert_answer(response, "rejected", "lid_sender")
    assert only_attempt().user_id is None


# --- bodies that are not JSON objects ----------------------------------------------------


def _login_body(code: str) -> str:
    return json.dumps(incoming(f"AMT LOGIN {code}"))


def _nested(depth: int, code: str) -> str:
    return '{"a":' * depth + _login_body(code) + "}" * depth


BAD_BODIES = {
    "empty": lambda code: b"",
    "truncated": lambda code: _login_body(code)[:-1].encode(),
    "trailing_comma": lambda code: _login_body(code)[:-1].encode() + b",}",
    "not_json": lambda code: f"AMT LOGIN {code}".encode(),
    "single_quotes": lambda code: _login_body(code).replace('"', "'").encode(),
    "non_utf8_latin1": lambda code: (
        _login_body(code).replace("Tenant", "T\u00e9nant").encode("latin-1")
    ),
    "non_utf8_garbage": lambda code: b"\xff\xfe" + _login_body(code).encode(),
    "utf16": lambda code: _login_body(code).encode("utf-16"),
    "bom": lambda code: b"\xef\xbb\xbf" + _login_body(code).encode(),
    "nan_timestamp": lambda code: (
        _login_body(code).replace('"timestamp": ', '"timestamp": NaN, "t": ').encode()
    ),
    "infinity": lambda code: _login_body(code)[:-1].encode() + b', "x": Infinity}',
    "minus_infinity": lambda code: _login_body(code)[:-1].encode() + b', "x": -Infinity}',
    "huge_integer": lambda code: _login_body(code)[:-1].encode() + b', "x": ' + b"9" * 5000 + b"}",
    "deep_1000_objects": lambda code: _nested(1000, code).encode(),
    "deep_1000_arrays": lambda code: ("[" * 1000 + _login_body(code) + "]" * 1000).encode(),
    "deep_20000_arrays": lambda code: ("[" * 20000 + "]" * 20000).encode(),
}


@pytest.mark.parametrize("name", list(BAD_BODIES))
def test_malformed_bodies_are_ignored(webhook, login, name):
    before = attempt_state()
    response = webhook.post(BAD_BODIES[name](login["code"]))
    assert_answer(response, "ignored")
    if name.startswith("deep_"):
        # Whether the interpreter's recursion limit trips at this depth varies between
        # Python versions; either way the delivery is answered 200 and ignored.
        assert response.json()["reason"] in (
            "malformed_json",
            "not_an_object",
            "not_incoming_message",
        )
    else:
        assert response.json()["reason"] == "malformed_json"
    assert_untouched(before)


def test_shallow_nesting_is_parsed_but_not_an_incoming_message(webhook, login):
    before = attempt_state()
    response = webhook.post(_nested(5, login["code"]))
    assert_answer(response, "ignored", "not_incoming_message")
    assert_untouched(before)


@pytest.mark.parametrize(
    "build",
    [
        lambda code: [incoming(f"AMT LOGIN {code}")],
        lambda code: [],
        lambda code: 1,
        lambda code: 1.5,
        lambda code: f"AMT LOGIN {code}",
        lambda code: None,
        lambda code: True,
    ],
    ids=["array_with_login", "empty_array", "int", "float", "string", "null", "true"],
)
def test_non_object_top_level_is_ignored(webhook, login, build):
    before = attempt_state()
    response = webhook.post(json.dumps(build(login["code"])))
    assert_answer(response, "ignored", "not_an_object")
    assert_untouched(before)


@pytest.mark.parametrize(
    "field, value, reason",
    [
        ("chatId", "\ud800996700123456@c.us", "bad_sender_data"),
        ("chatId", "996700123456@c.us\u0000", "bad_sender_data"),
        ("idMessage", "3EB0\udc00", "bad_message_id"),
        ("idMessage", "3EB0\u0000X", "bad_message_id"),
    ],
    ids=["lone_surrogate_chat", "nul_chat", "lone_surrogate_id", "nul_id"],
)
def test_unstorable_identifiers_are_ignored_not_500(webhook, login, field, value, reason):
    body = incoming(login["message"])
    if field == "chatId":
        body["senderData"]["chatId"] = body["senderData"]["sender"] = value
    else:
        body[field] = value
    before = attempt_state()
    response = webhook.post(json.dumps(body))  # ensure_ascii: "\ud800" travels as an escape
    assert_answer(response, "ignored", reason)
    assert_untouched(before)


# --- missing fields and wrong types ------------------------------------------------------


def _set(path: str, value: Any):
    def change(body: dict) -> None:
        *parents, last = path.split(".")
        target = body
        for key in parents:
            target = target[key]
        if value is _DELETE:
            del target[last]
        else:
            target[last] = value

    return change


_DELETE = object()

SCHEMA_CASES = [
    ("typeWebhook", _DELETE, "not_incoming_message"),
    ("typeWebhook", None, "not_incoming_message"),
    ("typeWebhook", "IncomingMessageReceived", "not_incoming_message"),
    ("typeWebhook", ["incomingMessageReceived"], "not_incoming_message"),
    ("instanceData", _DELETE, "bad_instance_data"),
    ("instanceData", "1101000001", "bad_instance_data"),
    ("instanceData.idInstance", _DELETE, "bad_instance_data"),
    ("instanceData.idInstance", True, "bad_instance_data"),
    ("instanceData.idInstance", None, "bad_instance_data"),
    ("instanceData.idInstance", [1101000001], "bad_instance_data"),
    ("instanceData.idInstance", 1101000001.0, "bad_instance_data"),
    ("instanceData.wid", _DELETE, "bad_instance_data"),
    ("instanceData.wid", None, "bad_instance_data"),
    ("instanceData.wid", 996555000001, "bad_instance_data"),
    ("instanceData.typeInstance", "telegram", "not_whatsapp"),
    ("instanceData.typeInstance", "v3", "not_whatsapp"),
    ("instanceData.typeInstance", None, "not_whatsapp"),
    ("timestamp", _DELETE, "bad_timestamp"),
    ("timestamp", "1767225600", "bad_timestamp"),
    ("timestamp", 1767225600.5, "bad_timestamp"),
    ("timestamp", True, "bad_timestamp"),
    ("timestamp", None, "bad_timestamp"),
    ("timestamp", 0, "bad_timestamp"),
    ("timestamp", -1, "bad_timestamp"),
    ("idMessage", _DELETE, "bad_message_id"),
    ("idMessage", "", "bad_message_id"),
    ("idMessage", None, "bad_message_id"),
    ("idMessage", 12345, "bad_message_id"),
    ("idMessage", ["3EB0"], "bad_message_id"),
    ("idMessage", "A" * 129, "bad_message_id"),
    ("senderData", _DELETE, "bad_sender_data"),
    ("senderData", None, "bad_sender_data"),
    ("senderData", [SENDER], "bad_sender_data"),
    ("senderData", SENDER, "bad_sender_data"),
    ("senderData.chatId", _DELETE, "bad_sender_data"),
    ("senderData.chatId", "", "bad_sender_data"),
    ("senderData.chatId", 996700123456, "bad_sender_data"),
    ("messageData", _DELETE, "bad_message_data"),
    ("messageData", None, "bad_message_data"),
    ("messageData", "AMT LOGIN", "bad_message_data"),
    ("messageData.typeMessage", _DELETE, "not_text_message"),
    ("messageData.typeMessage", None, "not_text_message"),
    ("messageData.typeMessage", "TextMessage", "not_text_message"),
    ("messageData.textMessageData", _DELETE, "bad_message_data"),
    ("messageData.textMessageData", "AMT LOGIN", "bad_message_data"),
    ("messageData.textMessageData", [], "bad_message_data"),
    ("messageData.textMessageData.textMessage", _DELETE, "bad_message_data"),
    ("messageData.textMessageData.textMessage", None, "bad_message_data"),
    ("messageData.textMessageData.textMessage", 123, "bad_message_data"),
    ("messageData.textMessageData.textMessage", ["AMT LOGIN {code}"], "bad_message_data"),
    ("messageData.textMessageData.textMessage", {"text": "AMT LOGIN {code}"}, "bad_message_data"),
]


@pytest.mark.parametrize(
    "path, value, reason",
    SCHEMA_CASES,
    ids=[
        f"{path}={'<deleted>' if value is _DELETE else repr(value)[:20]}"
        for path, value, _ in SCHEMA_CASES
    ],
)
def test_missing_fields_and_wrong_types_are_ignored(webhook, login, path, value, reason):
    body = incoming(login["message"])
    if isinstance(value, (list, dict)):
        value = json.loads(json.dumps(value).replace("{code}", login["code"]))
    _set(path, value)(body)
    before = attempt_state()
    assert_answer(webhook.post(body), "ignored", reason)
    assert_untouched(before)


@pytest.mark.parametrize("value", [None, 123, ["AMT LOGIN"], {}])
def test_extended_text_of_wrong_type_is_ignored(webhook, login, value):
    body = incoming(login["message"])
    body["messageData"] = {
        "typeMessage": "extendedTextMessage",
        "extendedTextMessageData": {"text": value},
    }
    before = attempt_state()
    assert_answer(webhook.post(body), "ignored", "bad_message_data")
    assert_untouched(before)


def test_extended_text_under_the_wrong_key_is_ignored(webhook, login):
    """Branch on typeMessage, never on which text field happens to exist."""
    body = incoming(login["message"])
    body["messageData"] = {
        "typeMessage": "extendedTextMessage",
        "textMessageData": {"textMessage": login["message"]},
    }
    before = attempt_state()
    assert_answer(webhook.post(body), "ignored", "bad_message_data")
    assert_untouched(before)


def test_unknown_extra_fields_are_tolerated(webhook, login):
    body = incoming(login["message"])
    body["somethingNew"] = {"nested": [1, 2, 3]}
    body["senderData"]["senderPhoneNumber"] = 996700654321  # never used as the identity
    body["messageData"]["textMessageData"]["isTemplateMessage"] = False
    assert_answer(webhook.post(body), "confirmed")
    assert_confirmed_for(login["user"])


# --- instance and business number --------------------------------------------------------


@pytest.mark.parametrize(
    "instance_data, reason",
    [
        ({"idInstance": 1101000002}, "wrong_instance"),
        ({"idInstance": "7103000001"}, "wrong_instance"),
        ({"idInstance": 0}, "wrong_instance"),
        ({"wid": "996555000002@c.us"}, "wrong_business_number"),
        ({"wid": "996555000001:1@c.us"}, "wrong_business_number"),
        ({"wid": "+996555000001"}, "wrong_business_number"),
        ({"wid": ""}, "wrong_business_number"),
    ],
)
def test_foreign_instance_or_business_number_is_ignored(
    webhook, login, caplog, instance_data, reason
):
    body = incoming(login["message"])
    body["instanceData"].update(instance_data)
    before = attempt_state()
    with caplog.at_level(logging.WARNING, logger="django_whatsapp_login"):
        assert_answer(webhook.post(body), "ignored", reason)
    assert any(record.levelno == logging.WARNING for record in caplog.records)
    assert_untouched(before)


def test_id_instance_as_string_is_accepted(webhook, login):
    body = incoming(login["message"])
    body["instanceData"]["idInstance"] = "1101000001"
    assert_answer(webhook.post(body), "confirmed")


def test_id_instance_not_configured_accepts_any_instance(webhook, login):
    body = incoming(login["message"])
    body["instanceData"]["idInstance"] = 7103999999
    with override_settings(WHATSAPP_LOGIN_GREEN_API_ID_INSTANCE=None):
        assert_answer(webhook.post(body), "confirmed")


def test_id_instance_setting_as_int_is_compared_as_text(webhook, login):
    with override_settings(WHATSAPP_LOGIN_GREEN_API_ID_INSTANCE=1101000001):
        body = incoming(login["message"])
        body["instanceData"]["idInstance"] = 1101000009
        assert_answer(webhook.post(body), "ignored", "wrong_instance")
        assert_answer(webhook.post(incoming(login["message"])), "confirmed")


def test_sender_equal_to_the_business_number_is_ignored(webhook, login, make_user):
    make_user("+996555000001")  # even if the business number is a user's phone
    before = attempt_state()
    response = webhook.post(incoming(login["message"], sender=BUSINESS_WID))
    assert_answer(response, "ignored", "own_message")
    assert_untouched(before)


# --- chats and senders -------------------------------------------------------------------


@pytest.mark.parametrize(
    "chat_id, sender, reason, rows",
    [
        ("120363043968066561@g.us", SENDER, "not_personal_chat", 0),
        ("79001234567-1587570015@g.us", SENDER, "not_personal_chat", 0),
        ("120363043968066561@g.us", "120363043968066561@g.us", "not_personal_chat", 0),
        ("status@broadcast", SENDER, "not_personal_chat", 0),
        ("status@broadcast", "status@broadcast", "not_personal_chat", 0),
        ("120363225678901234@newsletter", SENDER, "not_personal_chat", 0),
        ("996700123456@s.whatsapp.net", "996700123456@s.whatsapp.net", "not_personal_chat", 0),
        ("+996700123456@c.us", "+996700123456@c.us", "not_personal_chat", 0),
        ("996700123456", "996700123456", "not_personal_chat", 0),
    ],
)
def test_non_personal_chats_are_ignored(webhook, login, chat_id, sender, reason, rows):
    body = incoming(login["message"])
    body["senderData"].update({"chatId": chat_id, "sender": sender})
    before = attempt_state()
    assert_answer(webhook.post(body), "ignored", reason)
    assert_untouched(before, rows=rows)


@pytest.mark.parametrize(
    "chat_id, sender",
    [
        ("996700123456:3@c.us", "996700123456:3@c.us"),
        ("996700123456@c.us", "996700123456:3@c.us"),
        ("996700123456:12@c.us", "996700123456@c.us"),
    ],
)
def test_device_suffix_logs_in_the_right_user(webhook, browser, make_user, chat_id, sender):
    # Decoys: naive digit extraction ("9967001234563") or partial matching would find them.
    make_user("+9967001234563")
    make_user("+99670012345612")
    make_user("+700123456")
    user = make_user("+996700123456")
    data = start(browser)
    body = incoming(data["message"])
    body["senderData"].update({"chatId": chat_id, "sender": sender})
    assert_answer(webhook.post(body), "confirmed")
    assert_confirmed_for(user, browser)
    complete_login(browser, user)


def test_lid_in_both_fields_rejects_without_touching_a_user(webhook, login):
    body = incoming(login["message"], sender="120650379300963@lid")
    assert_answer(webhook.post(body), "rejected", "lid_sender")
    attempt = only_attempt()
    assert (attempt.status, attempt.reason, attempt.user_id) == (
        Status.REJECTED,
        "lid_sender",
        None,
    )
    status = browser_status(login["browser"])
    assert (status["status"], status["reason"]) == ("rejected", "lid_sender")


def test_lid_with_unknown_code_is_just_ignored(webhook, login):
    before = attempt_state()
    body = incoming("AMT LOGIN " + "A" * 16, sender="120650379300963@lid")
    assert_answer(webhook.post(body), "ignored", "unknown_code")
    assert_untouched(before, rows=1)


# --- the message text --------------------------------------------------------------------

ZERO_WIDTH = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff"]
BIDI = ["\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069"]


def _zero_width_inside(ch: str):
    return lambda c: f"AM{ch}T LOG{ch}IN {c[:5]}{ch}{c[5:]}"


def _bidi_inside(ch: str):
    return lambda c: f"{ch}AMT LOGIN {c[:3]}{ch}{c[3:]}{ch}"


ACCEPTED_TEXTS = {
    "exact": lambda c: f"AMT LOGIN {c}",
    "lower_case": lambda c: f"amt login {c.lower()}",
    "mixed_case": lambda c: f"Amt Login {c[:8].lower()}{c[8:]}",
    "tabs": lambda c: f"AMT\tLOGIN\t{c}",
    "double_spaces": lambda c: f"AMT  LOGIN   {c}",
    "newlines": lambda c: f"AMT\nLOGIN\r\n{c}",
    "leading_trailing": lambda c: f"  \n\tAMT LOGIN {c} \n ",
    "nbsp": lambda c: f"AMT\u00a0LOGIN\u00a0{c}",
    "ideographic_space": lambda c: f"AMT\u3000LOGIN\u3000{c}",
    "full_width_prefix": lambda c: f"\uff21\uff2d\uff34 \uff2c\uff2f\uff27\uff29\uff2e {c}",
    "full_width_all": lambda c: "".join(
        chr(ord(ch) + 0xFEE0) if ch != " " else "\u3000" for ch in f"AMT LOGIN {c}"
    ),
    **{f"zero_width_U+{ord(ch):04X}": _zero_width_inside(ch) for ch in ZERO_WIDTH},
    **{f"bidi_U+{ord(ch):04X}": _bidi_inside(ch) for ch in BIDI},
    "bom_at_start": lambda c: f"\ufeffAMT LOGIN {c}",
    "exactly_256_chars": lambda c: f"AMT LOGIN {c}".ljust(256),
}


@pytest.mark.parametrize("variant", list(ACCEPTED_TEXTS))
def test_text_variants_are_accepted(webhook, login, variant):
    text = ACCEPTED_TEXTS[variant](login["code"])
    assert len(text) <= 256
    assert_answer(webhook.post(incoming(text)), "confirmed")
    assert_confirmed_for(login["user"], login["browser"])
    assert ProcessedMessage.objects.count() == 1


def _swap(code: str, index: int, char: str) -> str:
    return code[:index] + char + code[index + 1 :]


REFUSED_TEXTS = {
    "cyrillic_AMT": lambda c: f"\u0410\u041c\u0422 LOGIN {c}",
    "cyrillic_O_in_LOGIN": lambda c: f"AMT L\u041eGIN {c}",
    "greek_alpha": lambda c: f"\u0391MT LOGIN {c}",
    "cyrillic_in_code": lambda c: f"AMT LOGIN {_swap(c, 0, chr(0x0410))}",
    "word_before": lambda c: f"Please AMT LOGIN {c}",
    "word_after": lambda c: f"AMT LOGIN {c} thanks",
    "punctuation_after": lambda c: f"AMT LOGIN {c}.",
    "colon": lambda c: f"AMT LOGIN: {c}",
    "two_codes": lambda c: f"AMT LOGIN {c} {c}",
    "two_messages": lambda c: f"AMT LOGIN {c}\nAMT LOGIN {c}",
    "codes_glued": lambda c: f"AMT LOGIN {c}{c}",
    "too_short": lambda c: f"AMT LOGIN {c[:-1]}",
    "too_long": lambda c: f"AMT LOGIN {c}A",
    "digit_0": lambda c: f"AMT LOGIN {_swap(c, 0, '0')}",
    "digit_1": lambda c: f"AMT LOGIN {_swap(c, 7, '1')}",
    "digit_8": lambda c: f"AMT LOGIN {_swap(c, 15, '8')}",
    "digit_9": lambda c: f"AMT LOGIN {_swap(c, 3, '9')}",
    "symbol": lambda c: f"AMT LOGIN {_swap(c, 3, '-')}",
    "space_in_code": lambda c: f"AMT LOGIN {c[:8]} {c[8:]}",
    "no_space_after_prefix": lambda c: f"AMT LOGIN{c}",
    "zero_width_instead_of_space": lambda c: f"AMT LOGIN\u200b{c}",
    "no_space_in_prefix": lambda c: f"AMTLOGIN {c}",
    "prefix_only": lambda c: "AMT LOGIN",
    "code_only": lambda c: c,
    "other_prefix": lambda c: f"LOGIN {c}",
    "empty": lambda c: "",
    "blank": lambda c: " \n\t ",
    "swe001": lambda c: "{{SWE001}}",
    "swe003": lambda c: "{{SWE003}}",
    "url": lambda c: f"https://wa.me/996555000001?text=AMT%20LOGIN%20{c}",
}


@pytest.mark.parametrize("variant", list(REFUSED_TEXTS))
def test_text_that_does_not_match_is_ignored(webhook, login, variant):
    before = attempt_state()
    response = webhook.post(incoming(REFUSED_TEXTS[variant](login["code"])))
    assert_answer(response, "ignored", "no_login_text")
    assert_untouched(before)


@pytest.mark.parametrize("length", [257, 300, 5000])
def test_text_over_256_chars_is_ignored_without_running_the_regex(webhook, login, length):
    text = f"AMT LOGIN {login['code']}".ljust(length)
    before = attempt_state()
    with (
        mock.patch.object(attempts, "match_code", wraps=attempts.match_code) as match,
        mock.patch.object(attempts, "normalize_text", wraps=attempts.normalize_text) as norm,
    ):
        assert_answer(webhook.post(incoming(text)), "ignored", "text_too_long")
        assert not match.called
        assert not norm.called
    assert_untouched(before)


def test_the_256_char_limit_is_on_the_raw_text(webhook, login):
    """Zero-width padding that would be stripped still counts towards the limit."""
    text = f"AMT LOGIN {login['code']}" + "\u200b" * 250
    before = attempt_state()
    assert_answer(webhook.post(incoming(text)), "ignored", "text_too_long")
    assert_untouched(before)


@pytest.mark.parametrize("prefix", ["LOGIN", "Вход", "amt-login"])
def test_prefix_setting_builds_the_pattern(webhook, login, prefix):
    with override_settings(WHATSAPP_LOGIN_MESSAGE_PREFIX=prefix):
        before = attempt_state()
        assert_answer(
            webhook.post(incoming(f"AMT LOGIN {login['code']}")), "ignored", "no_login_text"
        )
        assert_untouched(before)
        assert_answer(webhook.post(incoming(f"{prefix} {login['code']}")), "confirmed")


# --- delivery: duplicates, idempotency, conflicts ----------------------------------------


def test_same_message_twice_has_one_effect(webhook, login):
    body = incoming(login["message"])
    assert_answer(webhook.post(body), "confirmed")
    after_first = attempt_state()
    for _ in range(3):
        assert_answer(webhook.post(body), "duplicate", "")
    assert attempt_state() == after_first
    assert processed() == [(SENDER, body["idMessage"])]


def test_duplicate_of_an_ignored_message_is_a_duplicate(webhook, login):
    body = incoming("AMT LOGIN " + "A" * 16)
    assert_answer(webhook.post(body), "ignored", "unknown_code")
    assert_answer(webhook.post(body), "duplicate")
    assert ProcessedMessage.objects.count() == 1
    assert only_attempt().status == Status.PENDING


@pytest.mark.django_db(transaction=True)
def test_login_text_in_real_transactions_needs_no_savepoint_and_stays_idempotent(webhook, login):
    # Real commits (no test transaction around the request): the processed-message row is
    # the first statement of the delivery's transaction, so a re-delivery's unique-key
    # error rolls back only that transaction, and the first delivery needs no savepoint.
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    body = incoming(login["message"])
    with CaptureQueriesContext(connection) as queries:
        assert_answer(webhook.post(body), "confirmed")
    statements = [q["sql"] for q in queries.captured_queries]
    assert not [sql for sql in statements if "SAVEPOINT" in sql.upper()], statements
    after_first = attempt_state()
    for _ in range(2):
        assert_answer(webhook.post(body), "duplicate", "")
    assert attempt_state() == after_first
    assert processed() == [(SENDER, body["idMessage"])]
    # The connection is usable after the refused insert (no aborted transaction left).
    assert_answer(
        webhook.post(incoming(login["message"], idMessage=new_message_id())),
        "duplicate",
        "already_confirmed",
    )


def test_same_message_id_in_another_chat_is_a_new_message(webhook, login):
    first = incoming(login["message"])
    assert_answer(webhook.post(first), "confirmed")
    second = incoming(login["message"], sender=OTHER_SENDER, idMessage=first["idMessage"])
    assert_answer(webhook.post(second), "rejected", "conflicting_sender")
    assert sorted(processed()) == sorted(
        [(SENDER, first["idMessage"]), (OTHER_SENDER, first["idMessage"])]
    )


def test_new_message_from_the_same_sender_is_idempotent(webhook, login):
    assert_answer(webhook.post(incoming(login["message"])), "confirmed")
    after_first = attempt_state()
    for text in (login["message"], f"amt login {login['code'].lower()}"):
        response = webhook.post(incoming(text, idMessage=new_message_id()))
        assert_answer(response, "duplicate", "already_confirmed")
    assert attempt_state() == after_first
    assert ProcessedMessage.objects.count() == 3
    complete_login(login["browser"], login["user"])


def test_same_sender_via_device_suffix_is_still_the_same_sender(webhook, login):
    assert_answer(webhook.post(incoming(login["message"])), "confirmed")
    response = webhook.post(incoming(login["message"], sender="996700123456:7@c.us"))
    assert_answer(response, "duplicate", "already_confirmed")
    assert only_attempt().status == Status.CONFIRMED


@pytest.mark.parametrize("second_has_account", [True, False])
def test_second_different_sender_rejects_a_confirmed_attempt(
    webhook, login, make_user, second_has_account
):
    if second_has_account:
        make_user("+996700654321")
    assert_answer(webhook.post(incoming(login["message"])), "confirmed")
    response = webhook.post(incoming(login["message"], sender=OTHER_SENDER))
    assert_answer(response, "rejected", "conflicting_sender")
    attempt = only_attempt()
    assert attempt.status == Status.REJECTED
    assert attempt.reason == "conflicting_sender"
    assert attempt.closed_at is not None
    assert browser_status(login["browser"])["status"] == "rejected"

    response = login["browser"].post("/whatsapp/complete/")
    assert response.status_code == 409
    assert response.json()["status"] == "rejected"
    assert login["browser"].get("/").status_code == 302  # not logged in

    # Neither sender can revive it.
    for sender in (SENDER, OTHER_SENDER):
        assert_answer(
            webhook.post(incoming(login["message"], sender=sender)), "ignored", "attempt_closed"
        )
    assert only_attempt().status == Status.REJECTED


def test_lost_race_to_another_sender_rejects(webhook, login):
    """Simulate a concurrent delivery from another number committing between our read of the
    attempt and our conditional UPDATE: the UPDATE matches no row, so we re-judge."""
    real_resolver = resolvers.get_resolver()

    def racing_resolver(phone, **context):
        LoginAttempt.objects.filter(pk=context["attempt"].pk).update(
            status=Status.CONFIRMED,
            user=login["user"],
            sender_hash=attempts.sender_hash("+996700654321"),
            confirmed_at=timezone.now(),
        )
        return real_resolver(phone, **context)

    with mock.patch.object(resolvers, "get_resolver", return_value=racing_resolver):
        response = webhook.post(incoming(login["message"]))
    assert_answer(response, "rejected", "conflicting_sender")
    assert only_attempt().status == Status.REJECTED


def test_lost_race_to_the_same_sender_is_harmless(webhook, login):
    real_resolver = resolvers.get_resolver()

    def racing_resolver(phone, **context):
        LoginAttempt.objects.filter(pk=context["attempt"].pk).update(
            status=Status.CONFIRMED,
            user=login["user"],
            sender_hash=attempts.sender_hash(phone),
            confirmed_at=timezone.now(),
        )
        return real_resolver(phone, **context)

    with mock.patch.object(resolvers, "get_resolver", return_value=racing_resolver):
        response = webhook.post(incoming(login["message"]))
    assert_answer(response, "ignored", "attempt_closed")
    assert only_attempt().status == Status.CONFIRMED


def test_unknown_code_is_ignored(webhook, login):
    before = attempt_state()
    unknown = "".join(reversed(login["code"]))
    if unknown == login["code"]:
        unknown = "A" * 16
    response = webhook.post(incoming(f"AMT LOGIN {unknown}"))
    assert_answer(response, "ignored", "unknown_code")
    assert_untouched(before, rows=1)


def test_message_only_confirms_the_attempt_it_names(webhook, make_user):
    user = make_user("+996700123456")
    browser_a, browser_b = Client(), Client()
    code_a = start(browser_a)["code"]
    start(browser_b)
    assert_answer(webhook.post(incoming(f"AMT LOGIN {code_a}")), "confirmed")
    assert browser_status(browser_a)["status"] == "confirmed"
    assert browser_status(browser_b)["status"] == "pending"
    assert LoginAttempt.objects.filter(status=Status.CONFIRMED, user=user).count() == 1


# --- time: expiry and the timestamp window -----------------------------------------------


def test_expired_attempt_is_ignored_and_marked_expired(webhook, login):
    LoginAttempt.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    body = incoming(login["message"], timestamp=int(time.time()) - 5)
    assert_answer(webhook.post(body), "ignored", "expired")
    attempt = only_attempt()
    assert attempt.status == Status.EXPIRED
    assert attempt.user_id is None
    assert attempt.closed_at is not None
    assert browser_status(login["browser"])["status"] == "expired"
    # A later delivery of the same code changes nothing.
    assert_answer(webhook.post(incoming(login["message"])), "ignored", "attempt_closed")


def test_ttl_passing_with_a_patched_clock(webhook, login):
    attempt = only_attempt()
    sent_at = int(attempt.created_at.timestamp()) + 1
    later = attempt.expires_at + timedelta(seconds=1)
    with mock.patch("django.utils.timezone.now", return_value=later):
        assert_answer(
            webhook.post(incoming(login["message"], timestamp=sent_at)), "ignored", "expired"
        )
    assert only_attempt().status == Status.EXPIRED


def test_retry_24_hours_late_is_ignored(webhook, login):
    """Green API re-sends for 24 h: the original message arriving a day later logs no one in."""
    attempt = only_attempt()
    sent_at = int(attempt.created_at.timestamp()) + 2
    with mock.patch(
        "django.utils.timezone.now", return_value=attempt.created_at + timedelta(hours=24)
    ):
        response = webhook.post(incoming(login["message"], timestamp=sent_at))
    assert_answer(response, "ignored", "expired")
    assert only_attempt().status == Status.EXPIRED
    assert only_attempt().user_id is None


@pytest.mark.parametrize(
    "offset_from, seconds",
    [
        ("created", -7),
        ("created", -3600),
        ("created", -86400),
        ("expires", 1),
        ("expires", 86400),
    ],
)
def test_timestamp_outside_the_window_is_ignored(webhook, login, offset_from, seconds):
    attempt = only_attempt()
    base = attempt.created_at if offset_from == "created" else attempt.expires_at
    sent_at = int(base.timestamp()) + seconds + (1 if seconds > 0 else 0)
    assert_answer(
        webhook.post(incoming(login["message"], timestamp=sent_at)), "ignored", "stale_message"
    )
    # It cannot confirm, but the page is not left waiting: the code is over.
    attempt.refresh_from_db()
    assert (attempt.status, attempt.reason, attempt.user_id) == ("expired", "expired", None)
    assert browser_status(login["browser"])["status"] == "expired"


@pytest.mark.parametrize("offset_from, seconds", [("created", -4), ("expires", -1)])
def test_timestamp_at_the_edges_of_the_window_is_accepted(webhook, login, offset_from, seconds):
    attempt = only_attempt()
    base = attempt.created_at if offset_from == "created" else attempt.expires_at
    sent_at = int(base.timestamp()) + seconds
    assert_answer(webhook.post(incoming(login["message"], timestamp=sent_at)), "confirmed")


# --- closed attempts ---------------------------------------------------------------------


def test_consumed_attempt_is_ignored(webhook, login):
    assert_answer(webhook.post(incoming(login["message"])), "confirmed")
    complete_login(login["browser"], login["user"])
    after = attempt_state()
    for sender in (SENDER, OTHER_SENDER):
        assert_answer(
            webhook.post(incoming(login["message"], sender=sender)), "ignored", "attempt_closed"
        )
    assert attempt_state() == after
    assert only_attempt().status == Status.CONSUMED


def test_rejected_attempt_is_ignored_even_once_the_number_exists(webhook, browser, make_user):
    data = start(browser)
    assert_answer(webhook.post(incoming(data["message"])), "rejected", "unknown_number")
    after = attempt_state()
    make_user("+996700123456")
    assert_answer(webhook.post(incoming(data["message"])), "ignored", "attempt_closed")
    assert attempt_state() == after
    assert browser_status(browser)["status"] == "rejected"


def test_attempt_expired_by_a_new_attempt_is_ignored(webhook, login):
    LoginAttempt.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    start(login["browser"])  # replaces the expired attempt
    old, new = LoginAttempt.objects.order_by("pk")
    assert old.status == Status.EXPIRED
    assert_answer(webhook.post(incoming(login["message"])), "ignored", "attempt_closed")
    assert LoginAttempt.objects.get(pk=new.pk).status == Status.PENDING


# --- who the sender is -------------------------------------------------------------------


def test_sender_without_an_account_rejects(webhook, browser, make_user):
    make_user("+996700123457")  # a neighbour number: no partial matching
    make_user("+700123456")  # a suffix of the sender's number
    data = start(browser)
    response = webhook.post(incoming(data["message"]))
    assert_answer(response, "rejected", "unknown_number")
    attempt = only_attempt()
    assert (attempt.status, attempt.reason, attempt.user_id) == (
        Status.REJECTED,
        "unknown_number",
        None,
    )
    assert attempt.sender_masked == "+996•••456"
    assert browser_status(browser)["status"] == "rejected"
    assert browser.post("/whatsapp/complete/").status_code == 409


def test_inactive_user_rejects(webhook, browser, make_user):
    make_user("+996700123456", is_active=False)
    data = start(browser)
    assert_answer(webhook.post(incoming(data["message"])), "rejected", "inactive_user")
    attempt = only_attempt()
    assert (attempt.status, attempt.reason, attempt.user_id) == (
        Status.REJECTED,
        "inactive_user",
        None,
    )
    assert browser_status(browser)["status"] == "rejected"


@pytest.mark.parametrize("second_active", [True, False])
def test_shared_phone_rejects_and_never_picks_the_first(webhook, browser, make_user, second_active):
    make_user("+996700123456", username="first")
    make_user("+996700123456", username="second", is_active=second_active)
    data = start(browser)
    response = webhook.post(incoming(data["message"]))
    assert_answer(response, "rejected")
    # The reason code for a shared number may be specific; it is never a confirmation.
    assert response.json()["reason"] in ("unknown_number", "several_users")
    attempt = only_attempt()
    assert attempt.status == Status.REJECTED
    assert attempt.reason == response.json()["reason"]
    assert attempt.user_id is None
    assert browser.post("/whatsapp/complete/").status_code == 409
    assert browser.get("/").status_code == 302


def test_example_webhook_url_logs_in(browser, make_user):
    user = make_user("+996700123456")
    data = start(browser)
    client = WebhookClient(Client(enforce_csrf_checks=True), url="/api/webhooks/greenapi/incoming/")
    assert_answer(client.post(payload("text_message.json", data["code"])), "confirmed")
    assert_confirmed_for(user, browser)
    complete_login(browser, user)
