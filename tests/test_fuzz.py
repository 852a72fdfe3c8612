"""Property-based fuzzing of the payload parser and of the webhook view (hypothesis).

Together these run more than 5,000 generated payloads on every run of the suite:
JSON of every shape, wrong types, huge and deep values, unicode confusables and random
text around the prefix. Properties: never a 500 (or any exception from the parser other
than "ignored"), and never a state change unless the payload is a valid login message.
"""

from __future__ import annotations

import copy
import json
import os
from datetime import timedelta
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from django_whatsapp_login.gateways.greenapi import payloads as greenapi
from django_whatsapp_login.models import LoginAttempt, ProcessedMessage, Status

from .conftest import WebhookClient, incoming, start

SCALE = float(os.environ.get("WHATSAPP_LOGIN_FUZZ_SCALE", "1"))
PARSER_EXAMPLES = int(2400 * SCALE)
BYTES_EXAMPLES = int(800 * SCALE)
VIEW_JSON_EXAMPLES = int(900 * SCALE)
VIEW_TEXT_EXAMPLES = int(1000 * SCALE)

fuzz = settings(
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
    | st.sampled_from(
        [
            "incomingMessageReceived",
            "textMessage",
            "extendedTextMessage",
            "quotedMessage",
            "996700123456@c.us",
            "1@lid",
            "x@g.us",
            "whatsapp",
        ]
    )
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(
            st.sampled_from(
                [
                    "typeWebhook",
                    "instanceData",
                    "idInstance",
                    "wid",
                    "typeInstance",
                    "timestamp",
                    "idMessage",
                    "senderData",
                    "chatId",
                    "sender",
                    "messageData",
                    "typeMessage",
                    "textMessageData",
                    "textMessage",
                    "extendedTextMessageData",
                    "text",
                    "isForwarded",
                ]
            )
            | st.text(max_size=10),
            children,
            max_size=6,
        )
    ),
    max_leaves=15,
)

# Paths of a valid envelope and values of the wrong type for them.
PATHS = [
    ("typeWebhook",),
    ("instanceData",),
    ("instanceData", "idInstance"),
    ("instanceData", "wid"),
    ("instanceData", "typeInstance"),
    ("timestamp",),
    ("idMessage",),
    ("senderData",),
    ("senderData", "chatId"),
    ("senderData", "sender"),
    ("messageData",),
    ("messageData", "typeMessage"),
    ("messageData", "textMessageData"),
    ("messageData", "textMessageData", "textMessage"),
]


# --- the parser alone ------------------------------------------------------------------


def test_parser_never_raises_anything_but_ignored():
    seen = 0

    @settings(fuzz, max_examples=PARSER_EXAMPLES)
    @given(json_values)
    def check(value: Any) -> None:
        nonlocal seen
        seen += 1
        try:
            result = greenapi.parse_incoming_text(value)
        except greenapi.Ignored as ignored:
            assert ignored.reason
        else:
            assert isinstance(result, greenapi.IncomingText)
            assert len(result.text) <= greenapi.MAX_TEXT_CHARS

    check()
    assert seen >= PARSER_EXAMPLES * 0.9


def test_body_decoder_never_raises_anything_but_ignored():
    seen = 0

    @settings(fuzz, max_examples=BYTES_EXAMPLES)
    @given(
        st.binary(max_size=300)
        | st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass"))
        | st.integers(1, 3000).map(lambda depth: b"[" * depth + b"]" * depth)
        | st.integers(1, 3000).map(lambda depth: b'{"a":' * depth + b"1" + b"}" * depth)
        | st.sampled_from(
            [
                b"NaN",
                b"[Infinity]",
                b'{"a": -Infinity}',
                b"\xef\xbb\xbf{}",
                b"1" * 5000,
                b'"\\ud800"',
            ]
        )
    )
    def check(body: bytes) -> None:
        nonlocal seen
        seen += 1
        try:
            greenapi.loads(body)
        except greenapi.Ignored as ignored:
            assert ignored.reason == "malformed_json"

    check()
    assert seen >= BYTES_EXAMPLES * 0.9


# --- through the webhook view, against a live attempt -----------------------------------


@pytest.fixture
def live(db, make_user):
    make_user("+996700123456")
    browser = Client()
    data = start(browser)
    attempt = LoginAttempt.objects.get()
    return {"data": data, "attempt": attempt, "webhook": WebhookClient(Client())}


def snapshot() -> list[tuple[Any, ...]]:
    return list(LoginAttempt.objects.values_list("status", "reason", "user_id", "sender_hash"))


def reset(attempt: LoginAttempt) -> None:
    """A fresh pending attempt with a full lifetime: a long run must not outlive the TTL."""
    now = timezone.now()
    LoginAttempt.objects.filter(pk=attempt.pk).update(
        created_at=now,
        expires_at=now + timedelta(seconds=180),
        status=Status.PENDING,
        reason="",
        user=None,
        sender_hash="",
        sender_masked="",
        confirmed_at=None,
        closed_at=None,
    )
    ProcessedMessage.objects.all().delete()
    cache.clear()


def test_webhook_view_with_arbitrary_json(live):
    before = snapshot()
    seen = 0

    @settings(fuzz, max_examples=VIEW_JSON_EXAMPLES)
    @given(json_values)
    def check(value: Any) -> None:
        nonlocal seen
        seen += 1
        response = live["webhook"].post(json.dumps(value))
        assert response.status_code == 200
        assert response.json()["status"] in {"ignored", "duplicate"}
        assert snapshot() == before

    check()
    assert seen >= VIEW_JSON_EXAMPLES * 0.9
    assert ProcessedMessage.objects.count() == 0


HARMLESS = st.sampled_from(
    [
        " ",
        "  ",
        "\t",
        "\n",
        "\r\n",
        "\u00a0",
        "\u200b",
        "\u200c",
        "\u200d",
        "\u2060",
        "\ufeff",
        "\u202a",
        "\u202e",
        "\u2066",
        "\u2069",
    ]
)
VISIBLE = st.characters(categories=["L", "N", "P", "S"])
CONFUSABLES = {"A": "\u0410", "M": "\u041c", "T": "\u0422", "O": "\u041e", "L": "\u04c0"}


@st.composite
def login_texts(draw: st.DrawFn, code: str) -> tuple[str, bool]:
    """A text around ``<PREFIX> <code>`` and whether it must log in (known by construction)."""
    words = ["AMT", "LOGIN", code]
    if draw(st.booleans()):
        words = [w.lower() if draw(st.booleans()) else w for w in words]
    valid = True
    kind = draw(st.sampled_from(["clean", "blanks", "noise", "confusable", "mangle"]))
    separators = [
        draw(st.lists(HARMLESS, min_size=0, max_size=3).map("".join)) + " " for _ in range(2)
    ]
    left = draw(st.lists(HARMLESS, max_size=3).map("".join))
    right = draw(st.lists(HARMLESS, max_size=3).map("".join))
    if kind == "noise":
        noise = draw(st.text(VISIBLE, min_size=1, max_size=8))
        if draw(st.booleans()):
            left = noise + draw(st.sampled_from(["", " "])) + left
        else:
            right = right + draw(st.sampled_from(["", " "])) + noise
        valid = False
    elif kind == "confusable":
        index = draw(st.integers(0, 1))
        word = words[index].upper()
        letters = [i for i, ch in enumerate(word) if ch in CONFUSABLES]
        i = draw(st.sampled_from(letters))
        words[index] = word[:i] + CONFUSABLES[word[i]] + word[i + 1 :]
        valid = False
    elif kind == "mangle":
        code_chars = list(words[2].upper())
        action = draw(st.sampled_from(["drop", "add", "swap_digit"]))
        if action == "drop":
            del code_chars[draw(st.integers(0, len(code_chars) - 1))]
        elif action == "add":
            code_chars.insert(
                draw(st.integers(0, len(code_chars))), draw(st.sampled_from("ABC234567"))
            )
        else:
            code_chars[draw(st.integers(0, len(code_chars) - 1))] = draw(st.sampled_from("0189"))
        words[2] = "".join(code_chars)
        valid = False
    elif kind == "clean":
        separators = [" ", " "]
        left = right = ""
    text = left + words[0] + separators[0] + words[1] + separators[1] + words[2] + right
    return text, valid


MUTATIONS = st.sampled_from(
    [
        "none",
        "wrong_type",
        "drop",
        "type_message",
        "forwarded",
        "group",
        "lid",
        "outgoing",
        "phone_chat_lid_sender",
        "lid_chat_phone_sender",
        "empty_sender",
        "device_suffixes",
        "bad_sender",
    ]
)


def test_webhook_view_with_texts_around_the_prefix(live):
    code = live["data"]["code"]
    attempt = live["attempt"]
    confirmations = seen = 0

    @settings(fuzz, max_examples=VIEW_TEXT_EXAMPLES)
    @given(login_texts(code), MUTATIONS, scalars)
    def check(text_and_validity: tuple[str, bool], mutation: str, junk: Any) -> None:
        nonlocal confirmations, seen
        seen += 1
        reset(attempt)  # first, so a failed example (or a shrink run) never leaks state
        text, valid = text_and_validity
        payload = incoming(text)
        # Shapes of issue 9 that still name the user by phone: they log in like "none".
        same_person = {
            "phone_chat_lid_sender": ("996700123456@c.us", "120650379300963@lid"),
            "lid_chat_phone_sender": ("120650379300963@lid", "996700123456@c.us"),
            "empty_sender": ("996700123456@c.us", ""),
            "device_suffixes": ("996700123456:2@c.us", "120650379300963:5@lid"),
        }
        if mutation in same_person:
            chat_id, sender = same_person[mutation]
            payload["senderData"].update(chatId=chat_id, sender=sender)
        elif mutation != "none":
            valid = False
        if mutation == "bad_sender":
            # Present but not a person's id: refused (unreadable_sender), never guessed.
            payload["senderData"]["sender"] = junk if junk not in (None, "") else "x@g.us"
            if isinstance(payload["senderData"]["sender"], str) and (
                greenapi.personal_id(payload["senderData"]["sender"]) is not None
            ):
                payload["senderData"]["sender"] = "x@g.us"
            valid = None
        if mutation == "wrong_type":
            path = PATHS[hash(repr(junk)) % len(PATHS)]
            if path == ("idMessage",) and isinstance(junk, str):
                # Any short string is a valid message id: use a value of a wrong type.
                junk = [junk]
            target = payload
            for key in path[:-1]:
                target = target[key]
            original = copy.deepcopy(target[path[-1]])
            target[path[-1]] = junk
            if junk == original and type(junk) is type(original):
                valid = text_and_validity[1]
            elif path == ("senderData", "sender"):
                # A null or empty sender leaves the chat id alone to name the person;
                # anything else there is refused without a login.
                valid = text_and_validity[1] if junk in (None, "") and junk is not False else None
        elif mutation == "drop":
            payload.pop(["senderData", "messageData", "idMessage", "timestamp"][len(text) % 4])
        elif mutation == "type_message":
            payload["messageData"]["typeMessage"] = "reactionMessage"
        elif mutation == "forwarded":
            payload["messageData"] = {
                "typeMessage": "extendedTextMessage",
                "extendedTextMessageData": {"text": text, "isForwarded": True},
            }
            # A forwarded login text is refused (reason forwarded), never a login (T3).
            valid = None if text_and_validity[1] else False
        elif mutation == "group":
            payload["senderData"]["chatId"] = "120363043968066561@g.us"
        elif mutation == "lid":
            payload["senderData"].update(chatId="996700123456@lid", sender="996700123456@lid")
            valid = None  # fails closed: the attempt is rejected (its own reason), no login
        elif mutation == "outgoing":
            payload["typeWebhook"] = "outgoingMessageReceived"
        response = live["webhook"].post(payload)
        assert response.status_code == 200
        row = LoginAttempt.objects.get(pk=attempt.pk)
        if valid:
            assert response.json() == {"status": "confirmed"}, (text, response.json())
            assert row.status == Status.CONFIRMED and row.user_id is not None
            confirmations += 1
        elif valid is None:
            assert row.user_id is None
            assert row.status in (Status.PENDING, Status.REJECTED)
        else:
            answer = response.json()
            assert answer["status"] == "ignored", (text, mutation, answer)
            if answer["reason"] == "stale_message":
                # A junk integer timestamp outside the code's lifetime: no login, and the
                # attempt is expired so its page is not left waiting (issue 9).
                assert (row.status, row.user_id) == (Status.EXPIRED, None)
            else:
                assert (row.status, row.user_id) == (Status.PENDING, None)

    check()
    assert seen >= VIEW_TEXT_EXAMPLES * 0.9
    assert confirmations > 0  # the generator does produce valid logins
