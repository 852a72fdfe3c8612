"""Property-based fuzzing of the Cloud API parser (hypothesis), like tests/test_fuzz.py for
Green API: any bytes, any JSON, and mutations of every fixture under tests/payloads/cloudapi/
give a Delivery or Ignored, never another exception; every message that comes out is
within the limits the core relies on."""

from __future__ import annotations

import copy
import json
import os
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import settings as settings_
from hypothesis import strategies as st

from django_whatsapp_login.gateways import Ignored, IncomingMessage
from django_whatsapp_login.gateways.cloudapi.gateway import CloudAPIGateway
from django_whatsapp_login.gateways.cloudapi.payloads import (
    MAX_BUTTON_ID_CHARS,
    MAX_ID_CHARS,
    MAX_TEXT_CHARS,
    Delivery,
    parse_delivery,
    read_delivery,
)

from .fake_cloudapi import PAYLOADS, load

SCALE = float(os.environ.get("WHATSAPP_LOGIN_FUZZ_SCALE", "1"))
BYTES_EXAMPLES = int(600 * SCALE)
JSON_EXAMPLES = int(1200 * SCALE)
MUTATION_EXAMPLES = int(2400 * SCALE)

fuzz = settings(
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)

FIXTURES = {path.name: load(path.name) for path in sorted(PAYLOADS.glob("*.json"))}
KEYS = sorted(
    {
        "object",
        "entry",
        "id",
        "changes",
        "field",
        "value",
        "messaging_product",
        "metadata",
        "phone_number_id",
        "display_phone_number",
        "contacts",
        "profile",
        "name",
        "username",
        "wa_id",
        "user_id",
        "messages",
        "from",
        "from_user_id",
        "timestamp",
        "type",
        "text",
        "body",
        "interactive",
        "button_reply",
        "list_reply",
        "title",
        "button",
        "payload",
        "context",
        "forwarded",
        "frequently_forwarded",
        "statuses",
        "errors",
        "system",
        "group_id",
    }
)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
    | st.sampled_from(
        [
            "whatsapp_business_account",
            "whatsapp",
            "messages",
            "text",
            "interactive",
            "button_reply",
            "list_reply",
            "button",
            "system",
            "100000000000001",
            "996555000123",
            "KG.1000000000000000123",
            "@tenant",
            "1796000000",
            "wamid.FAKE",
        ]
    )
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=8), children, max_size=6)
    ),
    max_leaves=20,
)


def check_message(message: IncomingMessage) -> None:
    """What the core may rely on for every message the parser lets through."""
    assert message.gateway == "cloudapi"
    assert isinstance(message.text, str) and len(message.text) <= MAX_TEXT_CHARS
    assert "\x00" not in message.text
    message.text.encode("utf-8")  # no lone surrogate
    for value, limit in (
        (message.message_id, MAX_ID_CHARS),
        (message.chat_id, MAX_ID_CHARS + 3),
        (message.business, MAX_ID_CHARS),
    ):
        assert isinstance(value, str) and 0 < len(value) <= limit and value.isprintable()
    assert len(message.quoted_id) <= MAX_ID_CHARS and message.quoted_id.isprintable()
    assert len(message.button_id) <= MAX_BUTTON_ID_CHARS and message.button_id.isprintable()
    assert type(message.timestamp) is int and message.timestamp > 0
    assert type(message.forwarded) is bool
    assert message.senders is not None
    for ident in message.senders.ids:
        assert ident.value and ident.value.isprintable()


def check(result: Delivery) -> None:
    assert isinstance(result, Delivery)
    for message in result.messages:
        check_message(message)
    assert all(item.reason for item in result.skipped)


def test_any_bytes():
    seen = 0

    @settings(fuzz, max_examples=BYTES_EXAMPLES)
    @given(
        st.binary(max_size=300)
        | st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass"))
        | st.integers(1, 3000).map(lambda depth: b"[" * depth + b"]" * depth)
        | st.integers(1, 3000).map(lambda depth: b'{"a":' * depth + b"1" + b"}" * depth)
        | st.sampled_from([b"NaN", b"[Infinity]", b"\xef\xbb\xbf{}", b"1" * 5000, b'"\\ud800"'])
    )
    def run(body: bytes) -> None:
        nonlocal seen
        seen += 1
        try:
            check(parse_delivery(body))
        except Ignored as ignored:
            assert ignored.reason

    run()
    assert seen >= BYTES_EXAMPLES * 0.9


def test_any_json():
    seen = 0

    @settings(fuzz, max_examples=JSON_EXAMPLES)
    @given(json_values, st.booleans())
    def run(value: Any, wrap: bool) -> None:
        nonlocal seen
        seen += 1
        if wrap:  # inside a valid envelope, so the fuzz reaches the message readers
            value = {
                "object": "whatsapp_business_account",
                "entry": [{"changes": [{"field": "messages", "value": value}]}],
            }
        try:
            check(read_delivery(value))
        except Ignored as ignored:
            assert ignored.reason

    run()
    assert seen >= JSON_EXAMPLES * 0.9


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += paths(item, (*prefix, index))
    return found


PATHS = [(name, path) for name, data in FIXTURES.items() for path in paths(data) if path]


@st.composite
def mutations(draw: st.DrawFn) -> Any:
    """A fixture with one to three of its parts replaced, removed or duplicated."""
    name = draw(st.sampled_from(sorted(FIXTURES)))
    data = copy.deepcopy(FIXTURES[name])
    candidates = [path for fixture, path in PATHS if fixture == name]
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(candidates))
        parent = data
        try:
            for key in path[:-1]:
                parent = parent[key]
            last = path[-1]
            operation = draw(st.sampled_from(["replace", "delete", "duplicate", "wrap"]))
            if operation == "replace":
                parent[last] = draw(json_values)
            elif operation == "delete":
                del parent[last]
            elif operation == "duplicate" and isinstance(parent, list):
                parent.insert(last, copy.deepcopy(parent[last]))
            else:
                parent[last] = [parent[last]]
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation removed or replaced this path
    return data


def test_mutated_fixtures():
    seen = 0
    kept = 0

    @settings(fuzz, max_examples=MUTATION_EXAMPLES)
    @given(mutations())
    def run(value: Any) -> None:
        nonlocal seen, kept
        seen += 1
        try:
            result = read_delivery(value)
        except Ignored as ignored:
            assert ignored.reason
            return
        check(result)
        kept += bool(result.messages)
        # And the same through bytes, as the webhook will see it.
        check(parse_delivery(json.dumps(value).encode("utf-8", "surrogatepass")))

    run()
    assert seen >= MUTATION_EXAMPLES * 0.9
    # The mutations leave many messages readable: the fuzz explores near-valid input.
    assert kept >= seen * 0.1


def test_the_gateway_parse_raises_only_ignored(cloudapi_settings):
    gateway = CloudAPIGateway()
    ours = cloudapi_settings.WHATSAPP_LOGIN_CLOUD_API_PHONE_NUMBER_ID

    @settings(fuzz, max_examples=int(400 * SCALE))
    @given(mutations())
    def run(value: Any) -> None:
        try:
            messages = gateway.parse(json.dumps(value).encode("utf-8", "surrogatepass"))
        except Ignored as ignored:
            assert ignored.reason
        else:
            assert messages
            for message in messages:
                check_message(message)
                assert message.business == ours

    run()


# --- through the webhook view -------------------------------------------------------------

VIEW_EXAMPLES = int(300 * SCALE)
OUTCOMES = {
    "ignored",
    "duplicate",
    "processed",
    "confirmed",
    "rejected",
    "awaiting_confirmation",
    "signed_out",
}


def test_webhook_view_never_answers_anything_but_200(fake_cloudapi, settings, db, make_user):
    """Signed mutations of every fixture, posted to the one webhook view with the Cloud API
    gateway selected: always 200 (Meta re-sends anything else for days), never a 500."""
    from django.test import Client

    from .fake_cloudapi import signed

    settings.WHATSAPP_LOGIN_GATEWAY = "cloudapi"
    make_user(phone="+996555000123")
    client = Client()
    seen = 0

    @settings_(fuzz, max_examples=VIEW_EXAMPLES)
    @given(mutations() | json_values)
    def run(value: Any) -> None:
        nonlocal seen
        seen += 1
        body, headers = signed(value)
        response = client.post(
            "/whatsapp/webhook/", body, content_type="application/json", **headers
        )
        assert response.status_code == 200, response.content
        assert response.json()["status"] in OUTCOMES

    run()
    assert seen >= VIEW_EXAMPLES * 0.9
