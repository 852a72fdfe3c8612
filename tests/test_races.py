"""Concurrency on a real database: threads with their own connections.

Only meaningful on PostgreSQL (SQLite serialises writers), so these run when DATABASE_URL
points at PostgreSQL; .ci/run does that in its second pass.
"""

from __future__ import annotations

import copy
import os
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection, connections
from django.test import Client

from django_whatsapp_login.models import LoginAttempt, ProcessedMessage, Status

from .conftest import WebhookClient, incoming, start

#: .ci/run repeats every race 50 times in a row (WHATSAPP_LOGIN_RACE_REPEAT=50).
REPEAT = int(os.environ.get("WHATSAPP_LOGIN_RACE_REPEAT", "1"))

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.parametrize("repetition", range(REPEAT)),
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="needs DATABASE_URL pointing at PostgreSQL"
    ),
]


def run_together(functions: list[Callable[[], Any]]) -> list[Any]:
    """Start all functions at the same moment, each in its own thread and connection."""
    barrier = threading.Barrier(len(functions))
    results: list[Any] = [None] * len(functions)

    def worker(index: int, function: Callable[[], Any]) -> None:
        try:
            barrier.wait()
            results[index] = function()
        except Exception as err:  # surfaced by the assertions below
            results[index] = err
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(i, f)) for i, f in enumerate(functions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results


def test_twenty_concurrent_deliveries_of_one_message(make_user, repetition):
    make_user("+996700123456")
    browser = Client()
    payload = incoming(start(browser)["message"])

    def deliver():
        return WebhookClient(Client()).post(payload)

    responses = run_together([deliver] * 20)
    assert [r.status_code for r in responses] == [200] * 20
    actions = Counter(r.json()["status"] for r in responses)
    assert actions == {"confirmed": 1, "duplicate": 19}
    assert ProcessedMessage.objects.count() == 1
    assert LoginAttempt.objects.get().status == Status.CONFIRMED


def test_two_senders_confirming_one_attempt_at_once(make_user, repetition):
    make_user("+996700123456")
    make_user("+996700654321")
    browser = Client()
    message = start(browser)["message"]
    payloads = [incoming(message, "996700123456@c.us"), incoming(message, "996700654321@c.us")]

    responses = run_together([lambda p=p: WebhookClient(Client()).post(p) for p in payloads])
    assert [r.status_code for r in responses] == [200, 200]
    attempt = LoginAttempt.objects.get()
    # Whichever came first confirmed it; the other saw a confirmed code from another number.
    assert attempt.status == Status.REJECTED
    assert attempt.reason == "conflicting_sender"
    assert browser.post("/whatsapp/complete/").status_code == 409
    assert "_auth_user_id" not in browser.session


def test_two_tabs_completing_at_once(make_user, repetition):
    user = make_user("+996700123456")
    browser = Client()
    message = start(browser)["message"]
    WebhookClient(Client()).post(incoming(message))
    cookies = browser.cookies

    def complete():
        tab = Client()
        tab.cookies = copy.deepcopy(cookies)
        response = tab.post("/whatsapp/complete/")
        return response.status_code, tab.session.get("_auth_user_id")

    results = run_together([complete] * 5)
    codes = Counter(code for code, _ in results)
    assert codes[200] == 1
    assert set(codes) <= {200, 404, 409}
    assert [uid for code, uid in results if code == 200] == [str(user.pk)]
    assert LoginAttempt.objects.get().status == Status.CONSUMED


def test_webhook_racing_expiry(make_user, repetition):
    """A confirmation and an expiry-on-read race: exactly one state wins, never both."""
    make_user("+996700123456")
    browser = Client()
    message = start(browser)["message"]
    attempt = LoginAttempt.objects.get()

    def expire():
        from django.utils import timezone

        return LoginAttempt.objects.filter(pk=attempt.pk, status=Status.PENDING).update(
            status=Status.EXPIRED, closed_at=timezone.now()
        )

    def confirm():
        return WebhookClient(Client()).post(incoming(message)).json()["status"]

    expired_rows, action = run_together([expire, confirm])
    attempt.refresh_from_db()
    if expired_rows == 1:
        assert action == "ignored" and attempt.status == Status.EXPIRED
    else:
        assert action == "confirmed" and attempt.status == Status.CONFIRMED


def test_two_deliveries_teaching_conflicting_pairs_at_once(make_user, repetition):
    """Two logins whose deliveries pair one LID with two different phones (users), both
    completed at the same moment: each user logs into their own account, exactly one of
    them ends up owning the LID, and nothing answers 500."""
    from django_whatsapp_login.models import WhatsAppIdentity

    lid = "120650379300963@lid"
    alice = make_user("+996700123456")
    bob = make_user("+996700654321")
    browsers = []
    for user, phone_id in [(alice, "996700123456@c.us"), (bob, "996700654321@c.us")]:
        browser = Client()
        body = incoming(start(browser)["message"], phone_id)
        body["senderData"]["sender"] = lid
        assert WebhookClient(Client()).post(body).json() == {"status": "confirmed"}
        browsers.append((browser, user))

    def complete(browser: Client) -> tuple[int, str | None]:
        tab = Client()
        tab.cookies = copy.deepcopy(browser.cookies)
        response = tab.post("/whatsapp/complete/")
        return response.status_code, tab.session.get("_auth_user_id")

    results = run_together([lambda b=b: complete(b) for b, _ in browsers])
    assert results == [(200, str(alice.pk)), (200, str(bob.pk))]
    owners = list(
        WhatsAppIdentity.objects.filter(kind="lid", value=lid).values_list("user_id", flat=True)
    )
    assert len(owners) == 1 and owners[0] in (alice.pk, bob.pk)
    # From now on the pair of the loser is refused, the LID alone names the winner only.
    loser_phone = "996700654321@c.us" if owners[0] == alice.pk else "996700123456@c.us"
    browser = Client()
    body = incoming(start(browser)["message"], loser_phone)
    body["senderData"]["sender"] = lid
    assert WebhookClient(Client()).post(body).json() == {
        "status": "rejected",
        "reason": "conflicting_ids",
    }


def test_two_phone_fallback_tries_at_once(make_user, fake_greenapi, no_confirmation, repetition):
    """Two tabs of one session submit the right number at the same moment: the conditional
    rejected -> confirmed update lets exactly one of them confirm; the browser logs in once."""
    user = make_user("+996700123456")
    lid = "120650379300963@lid"
    fake_greenapi.lids["996700123456"] = lid
    browser = Client()
    answer = WebhookClient(Client()).post(incoming(start(browser)["message"], lid)).json()
    assert answer == {"status": "rejected", "reason": "lid_sender"}
    cookies = browser.cookies

    def try_phone():
        tab = Client()
        tab.cookies = copy.deepcopy(cookies)
        return tab.post("/whatsapp/lid-fallback/", {"phone": "+996700123456"}).status_code

    # The loser either read the attempt before the winner's update committed (the conditional
    # update then refuses it: 400) or after (no lid_sender attempt any more: 404). Never two 200s.
    first, second = sorted(run_together([try_phone, try_phone]))
    assert first == 200 and second in (400, 404), (first, second)
    attempt = LoginAttempt.objects.get()
    assert (attempt.status, attempt.reason, attempt.user_id) == (
        Status.CONFIRMED,
        "lookup_confirmed",
        user.pk,
    )
    assert browser.post("/whatsapp/complete/").status_code == 200
    assert browser.session["_auth_user_id"] == str(user.pk)


def test_two_yes_answers_at_once_confirm_once(make_user, fake_greenapi, repetition):
    """The user answers YES twice (two messages, two webhooks at the same moment): the
    conditional awaiting_confirmation -> confirmed update lets exactly one of them win."""
    user = make_user("+996700123456")
    browser = Client()
    webhook = WebhookClient(Client())
    answer = webhook.post(incoming(start(browser)["message"], "996700123456@c.us")).json()
    assert answer == {"status": "awaiting_confirmation"}
    attempt = LoginAttempt.objects.get()
    assert attempt.question_message_id  # sent after the webhook's commit (a real one here)

    def yes():
        return WebhookClient(Client()).post(incoming("YES", "996700123456@c.us")).json()

    outcomes = Counter(result["status"] for result in run_together([yes, yes]))
    assert outcomes["confirmed"] == 1, outcomes
    assert outcomes["confirmed"] + outcomes["ignored"] == 2, outcomes
    attempt.refresh_from_db()
    assert (attempt.status, attempt.reason, attempt.user_id) == (
        Status.CONFIRMED,
        "approved",
        user.pk,
    )
    assert browser.post("/whatsapp/complete/").status_code == 200
