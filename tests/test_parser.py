"""Unit tests for the pure parsing layer: greenapi.loads / parse_incoming_text and
attempts.normalize_text / match_code (no database, no HTTP)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import override_settings

from django_whatsapp_login.attempts import (
    CODE_ALPHABET,
    CODE_LENGTH,
    generate_code,
    login_message,
    match_code,
    normalize_text,
)
from django_whatsapp_login.gateways.greenapi.payloads import (
    MAX_TEXT_CHARS,
    Ignored,
    IncomingText,
    loads,
    parse_incoming_text,
)
from django_whatsapp_login.senders import SenderIds, WhatsAppId

from .conftest import incoming
from .webhook_helpers import PAYLOAD_FILES, payload

CODE = "7KQ3X5P2MZ4LBC6D"
assert len(CODE) == CODE_LENGTH and set(CODE) <= set(CODE_ALPHABET)


# --- loads -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body, expected",
    [
        (b"{}", {}),
        (b'{"a": [1, 2.5, "x", null, true]}', {"a": [1, 2.5, "x", None, True]}),
        ('{"t": "\u00e9\U0001f44d"}'.encode(), {"t": "\u00e9\U0001f44d"}),
        (b'{"t": "\\ud83d\\udc4d"}', {"t": "\U0001f44d"}),  # an escaped surrogate pair
        (b"[]", []),
        (b"1", 1),
        (b'  {"a": 1}\n', {"a": 1}),
    ],
)
def test_loads_accepts_strict_json(body, expected):
    assert loads(body) == expected


def _deep(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b" ",
        b"{",
        b'{"a": 1,}',
        b"{'a': 1}",
        b'{"a": 1} {"b": 2}',
        b'{"a": 1} x',
        b"\xff\xfe{}",
        b"\xc3\x28",
        '{"t": "\u00e9"}'.encode("latin-1"),
        '{"a": 1}'.encode("utf-16"),
        b"\xef\xbb\xbf{}",  # UTF-8 BOM
        b"NaN",
        b'{"a": NaN}',
        b'{"a": Infinity}',
        b'{"a": -Infinity}',
        b'{"a": [1, NaN]}',
        b'{"a": ' + b"9" * 5000 + b"}",  # beyond Python's int-from-string limit
        _deep(100_000),
        b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
    ],
    ids=lambda body: repr(body[:24]) + f"..{len(body)}",
)
def test_loads_refuses_everything_else(body):
    with pytest.raises(Ignored) as info:
        loads(body)
    assert info.value.reason == "malformed_json"


def test_loads_survives_nesting_at_the_recursion_limit():
    # Either parsed or refused, never a crash.
    for depth in (900, 1000, 1100, 5000):
        try:
            result = loads(_deep(depth))
        except Ignored as ignored:
            assert ignored.reason == "malformed_json"
        else:
            assert isinstance(result, list)


def test_ignored_carries_its_reason():
    error = Ignored("some_reason")
    assert error.reason == "some_reason"
    assert str(error) == "some_reason"


# --- parse_incoming_text -----------------------------------------------------------------


def test_parse_incoming_text_happy_path():
    body = incoming(f"AMT LOGIN {CODE}")
    message = parse_incoming_text(body)
    assert message == IncomingText(
        id_instance="1101000001",
        wid="996555000001@c.us",
        chat_id="996700123456@c.us",
        sender="996700123456@c.us",
        message_id=body["idMessage"],
        timestamp=body["timestamp"],
        type_message="textMessage",
        text=f"AMT LOGIN {CODE}",
        senders=SenderIds((WhatsAppId("phone", "+996700123456"),)),
    )


@pytest.mark.parametrize(
    "name, type_message",
    [
        ("text_message.json", "textMessage"),
        ("extended_text_message.json", "extendedTextMessage"),
        ("reply_quoted.json", "textMessage"),
        ("quoted_message_deprecated.json", "quotedMessage"),
        ("no_chat_name.json", "textMessage"),
        ("device_suffix_sender.json", "textMessage"),
        ("lid_sender.json", "textMessage"),
        ("group_message.json", "textMessage"),
        ("foreign_instance.json", "textMessage"),
        ("foreign_wid.json", "textMessage"),
        ("swe001_placeholder.json", "textMessage"),
    ],
)
def test_parse_fixture_files_with_text(name, type_message):
    message = parse_incoming_text(payload(name, CODE))
    assert message.type_message == type_message
    if name == "swe001_placeholder.json":
        assert message.text == "{{SWE001}}"
    else:
        assert message.text == f"AMT LOGIN {CODE}"


@pytest.mark.parametrize(
    "name, reason",
    [
        ("reaction_message.json", "not_text_message"),
        ("reaction_login_text.json", "not_text_message"),
        ("edited_message.json", "not_text_message"),
        ("deleted_message.json", "not_text_message"),
        ("image_message_caption.json", "not_text_message"),
        ("sticker_message.json", "not_text_message"),
        ("poll_message.json", "not_text_message"),
        ("outgoing_message_received.json", "not_incoming_message"),
        ("outgoing_api_message_received.json", "not_incoming_message"),
        ("outgoing_message_status.json", "not_incoming_message"),
        ("state_instance_changed.json", "not_incoming_message"),
        ("status_instance_changed.json", "not_incoming_message"),
        ("incoming_call.json", "not_incoming_message"),
        ("device_info.json", "not_incoming_message"),
        ("incoming_block.json", "not_incoming_message"),
        ("quota_exceeded.json", "not_incoming_message"),
        ("unknown_type.json", "not_incoming_message"),
        ("max_v3_numeric_chat.json", "not_whatsapp"),
        # status@broadcast / newsletter parse fine: the chat rules reject them later.
    ],
)
def test_parse_fixture_files_refused(name, reason):
    with pytest.raises(Ignored) as info:
        parse_incoming_text(payload(name, CODE))
    assert info.value.reason == reason


def test_every_fixture_file_parses_as_json():
    for name in PAYLOAD_FILES:
        assert isinstance(payload(name, CODE), dict), name


@pytest.mark.parametrize("value", [None, [], "x", 1, True, 1.5])
def test_parse_refuses_non_objects(value):
    with pytest.raises(Ignored) as info:
        parse_incoming_text(value)
    assert info.value.reason == "not_an_object"


def _with(change) -> dict[str, Any]:
    body = incoming(f"AMT LOGIN {CODE}")
    change(body)
    return body


@pytest.mark.parametrize(
    "change, reason",
    [
        (
            lambda b: b["messageData"]["textMessageData"].update(textMessage="x" * 257),
            "text_too_long",
        ),
        (
            lambda b: b["messageData"].update(
                typeMessage="reactionMessage", extendedTextMessageData={"text": CODE}
            ),
            "not_text_message",
        ),
        (
            lambda b: b["messageData"].update(typeMessage="buttonsResponseMessage"),
            "not_text_message",
        ),
        (lambda b: b["messageData"].update(typeMessage="listResponseMessage"), "not_text_message"),
        (
            lambda b: b["messageData"].update(typeMessage="templateButtonsReplyMessage"),
            "not_text_message",
        ),
        (
            lambda b: b["messageData"].update(typeMessage="interactiveButtonsResponse"),
            "not_text_message",
        ),
        (lambda b: b["messageData"].update(typeMessage="pollUpdateMessage"), "not_text_message"),
        (lambda b: b["messageData"].update(typeMessage="documentMessage"), "not_text_message"),
        (lambda b: b["messageData"].update(typeMessage="audioMessage"), "not_text_message"),
        (lambda b: b["messageData"].update(typeMessage="videoMessage"), "not_text_message"),
        (lambda b: b["messageData"].update(typeMessage="locationMessage"), "not_text_message"),
        (lambda b: b["messageData"].update(typeMessage="contactMessage"), "not_text_message"),
        (lambda b: b.update(typeWebhook="outgoingCall"), "not_incoming_message"),
        (lambda b: b["instanceData"].update(typeInstance="telegram"), "not_whatsapp"),
        (lambda b: b["senderData"].update(chatId="a" * 129), "bad_sender_data"),
        (lambda b: b["senderData"].update(chatId="996700123456@c.us\x07"), "bad_sender_data"),
        (lambda b: b.update(idMessage="\x00"), "bad_message_id"),
        (lambda b: b.update(idMessage="3EB0\n"), "bad_message_id"),
        (lambda b: b.update(timestamp=2**63), None),  # a big int is still an int: accepted
    ],
)
def test_parse_edge_cases(change, reason):
    body = _with(change)
    if reason is None:
        assert parse_incoming_text(body).timestamp == 2**63
        return
    with pytest.raises(Ignored) as info:
        parse_incoming_text(body)
    assert info.value.reason == reason


@pytest.mark.parametrize("forwarded", [False, None, "true", 1, 0])
def test_only_is_forwarded_true_counts_as_forwarded(forwarded):
    body = _with(lambda b: b["messageData"]["textMessageData"].update(isForwarded=forwarded))
    message = parse_incoming_text(body)
    assert message.text == f"AMT LOGIN {CODE}"
    assert message.forwarded is False


@pytest.mark.parametrize(
    "name", ["forwarded_text_message.json", "forwarded_extended_text_message.json"]
)
def test_forwarded_fixture_files_parse_flagged(name):
    # The core rejects them (reason forwarded): the parser only says what they are.
    message = parse_incoming_text(payload(name, CODE))
    assert message.forwarded is True
    assert message.text == f"AMT LOGIN {CODE}"


@pytest.mark.parametrize("type_message", ["textMessage", "extendedTextMessage", "quotedMessage"])
@pytest.mark.parametrize(
    "fields, forwarded",
    [
        ({"isForwarded": True}, True),
        ({"isForwarded": False, "forwardingScore": 1}, True),
        ({"forwardingScore": 5}, True),
        ({"isForwarded": False, "forwardingScore": 0}, False),
        ({"forwardingScore": -1}, False),
        ({"forwardingScore": True}, False),
        ({"forwardingScore": "3"}, False),
        ({"forwardingScore": 2.5}, False),
        ({}, False),
    ],
)
def test_forwarded_flag_from_either_field(type_message, fields, forwarded):
    text = f"AMT LOGIN {CODE}"
    if type_message == "textMessage":
        data = {"typeMessage": type_message, "textMessageData": {"textMessage": text, **fields}}
    else:
        data = {"typeMessage": type_message, "extendedTextMessageData": {"text": text, **fields}}
    body = _with(lambda b: b.update(messageData=data))
    assert parse_incoming_text(body).forwarded is forwarded


def test_text_limit_is_inclusive():
    text = "x" * MAX_TEXT_CHARS
    body = _with(lambda b: b["messageData"]["textMessageData"].update(textMessage=text))
    assert parse_incoming_text(body).text == text


def test_missing_type_instance_defaults_to_whatsapp():
    body = _with(lambda b: b["instanceData"].pop("typeInstance"))
    assert parse_incoming_text(body).id_instance == "1101000001"


def test_id_instance_is_normalised_to_text():
    body = _with(lambda b: b["instanceData"].update(idInstance=" 1101000001 "))
    assert parse_incoming_text(body).id_instance == "1101000001"


def test_round_trip_through_loads():
    body = incoming(f"AMT LOGIN {CODE}")
    assert parse_incoming_text(loads(json.dumps(body).encode())).text == f"AMT LOGIN {CODE}"


# --- normalize_text ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("amt login abc", "AMT LOGIN ABC"),
        ("  AMT\tLOGIN\n\nabc  ", "AMT LOGIN ABC"),
        ("AMT\u00a0LOGIN\u3000abc", "AMT LOGIN ABC"),
        ("\uff21\uff2d\uff34 \uff2c\uff2f\uff27\uff29\uff2e", "AMT LOGIN"),
        ("A\u200bM\u200cT\u200d \u2060LOGIN\ufeff", "AMT LOGIN"),
        ("\u202aAMT\u202b \u202cLOGIN\u202d\u202e", "AMT LOGIN"),
        ("\u2066AMT\u2067 \u2068LOGIN\u2069", "AMT LOGIN"),
        ("\u00adAMT", "AMT"),  # soft hyphen is a format character too
        ("\u0410\u041c\u0422", "\u0410\u041c\u0422"),  # Cyrillic stays Cyrillic
        ("", ""),
        (" \t\n ", ""),
    ],
)
def test_normalize_text(text, expected):
    assert normalize_text(text) == expected


# --- match_code --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        f"AMT LOGIN {CODE}",
        f"amt login {CODE.lower()}",
        f"  AMT \t LOGIN \n {CODE}  ",
        f"\uff21\uff2d\uff34\u3000\uff2c\uff2f\uff27\uff29\uff2e {CODE}",
        f"AMT LOGIN {CODE[:4]}\u200b{CODE[4:]}",
        f"\u202eAMT LOGIN {CODE}\u202c",
        f"\u2067AMT LOGIN {CODE}\u2069",
        f"\ufeffAMT LOGIN {CODE}",
    ],
)
def test_match_code_accepts(text):
    assert match_code(text) == CODE


@pytest.mark.parametrize(
    "text",
    [
        f"\u0410\u041c\u0422 LOGIN {CODE}",
        f"AMT LOGIN {CODE} please",
        f"hi AMT LOGIN {CODE}",
        f"AMT LOGIN {CODE} AMT LOGIN {CODE}",
        f"AMT LOGIN {CODE}\nAMT LOGIN {CODE}",
        f"AMT LOGIN {CODE[:-1]}",
        f"AMT LOGIN {CODE}A",
        f"AMT LOGIN {CODE[:-1]}1",
        f"AMT LOGIN {CODE[:-1]}0",
        f"AMT LOGIN {CODE[:-1]}8",
        f"AMT LOGIN {CODE[:-1]}9",
        f"AMT LOGIN {CODE[:-1]}\u0410",
        f"AMT LOGIN {CODE[:-1]}\u00c9",
        f"AMT LOGIN {CODE[:-1]}\u2167",  # Roman numeral eight: NFKC gives "VIII"
        f"AMT LOGIN{CODE}",
        f"AMTLOGIN {CODE}",
        f"LOGIN {CODE}",
        CODE,
        "AMT LOGIN",
        "",
        "{{SWE001}}",
    ],
)
def test_match_code_refuses(text):
    assert match_code(text) is None


def test_match_code_is_a_full_match_not_a_search():
    assert match_code(f"xAMT LOGIN {CODE}") is None
    assert match_code(f"AMT LOGIN {CODE}x") is None


@pytest.mark.parametrize(
    "prefix, text",
    [
        ("LOGIN", f"login {CODE}"),
        ("Вход", f"вход {CODE}"),
        ("a.b*c", f"A.B*C {CODE}"),  # regex metacharacters in the prefix are literal
        ("  AMT   LOGIN ", f"AMT LOGIN {CODE}"),
        ("\uff21\uff2d\uff34", f"AMT {CODE}"),
    ],
)
def test_match_code_uses_the_prefix_setting(prefix, text):
    with override_settings(WHATSAPP_LOGIN_MESSAGE_PREFIX=prefix):
        assert match_code(text) == CODE


def test_prefix_metacharacters_do_not_widen_the_pattern():
    with override_settings(WHATSAPP_LOGIN_MESSAGE_PREFIX="a.b*c"):
        assert match_code(f"AXB C {CODE}") is None
        assert match_code(f"A.BBBC {CODE}") is None


def test_generated_codes_round_trip():
    for _ in range(50):
        code = generate_code()
        assert len(code) == CODE_LENGTH
        assert set(code) <= set(CODE_ALPHABET)
        assert match_code(login_message(code)) == code
        assert match_code(login_message(code).lower()) == code


def test_generated_codes_use_every_character_evenly():
    from collections import Counter

    # base32 of random bytes: the alphabet must be RFC 4648's, and no position biased.
    assert CODE_ALPHABET == "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
    codes = [generate_code() for _ in range(2000)]
    assert len(set(codes)) == len(codes)
    assert all(len(code) == CODE_LENGTH for code in codes)
    for position in (0, CODE_LENGTH // 2, CODE_LENGTH - 1):
        counts = Counter(code[position] for code in codes)
        assert set(counts) == set(CODE_ALPHABET)  # 2000 draws: every character shows
        assert max(counts.values()) < 2000 / 32 * 2.2  # none far above 62.5 on average
