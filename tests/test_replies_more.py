"""Pieces of replies.py the flow tests do not reach: the words that mean NO, the hourly cap
at zero, an unknown reply kind, and a confirmation question whose sending raises (the page
is told, never left waiting) even when closing the attempt fails too."""

from __future__ import annotations

import logging

import pytest
from django.test import Client

from django_whatsapp_login import attempts, replies
from django_whatsapp_login.models import LoginAttempt, Reason, Status

from .conftest import session_attempt_id, start

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("skip_qr_rendering")]

CHAT = "996700123456@c.us"


def test_no_and_its_translation_mean_no(settings):
    settings.WHATSAPP_LOGIN_REPLY_LANGUAGE = "en"
    assert replies.no_words() == {"NO"}
    settings.WHATSAPP_LOGIN_REPLY_LANGUAGE = "ru"
    words = replies.no_words()
    assert "NO" in words and len(words) == 2 and "YES" not in words
    (russian,) = words - {"NO"}
    assert attempts.match_answer(russian) == attempts.NO


def test_a_cap_of_zero_replies_never_replies(settings):
    settings.WHATSAPP_LOGIN_REPLIES_PER_HOUR = 0
    assert replies._under_cap("+996700123456") is False


def test_the_cap_counts_per_phone(settings):
    settings.WHATSAPP_LOGIN_REPLIES_PER_HOUR = 2
    assert [replies._under_cap("+996700123456") for _ in range(3)] == [True, True, False]
    assert replies._under_cap("+996700123457") is True


def test_an_unknown_reply_kind_is_refused():
    with pytest.raises(ValueError, match="Unknown reply kind: 'shout'"):
        replies.render("shout")


@pytest.fixture
def awaiting(settings):
    """An attempt waiting for the user's YES (as after a first message), sendable."""
    settings.WHATSAPP_LOGIN_GREEN_API_TOKEN = "fake-api-token-never-used-0123"
    browser = Client()
    start(browser)
    attempt = LoginAttempt.objects.get(pk=session_attempt_id(browser))
    LoginAttempt.objects.filter(pk=attempt.pk).update(status=Status.AWAITING_CONFIRMATION)
    attempt.refresh_from_db()
    return attempt


def broken_send(*args, **kwargs):
    raise RuntimeError("the gateway exploded")


def test_a_question_that_raises_rejects_the_attempt(awaiting, monkeypatch, caplog):
    monkeypatch.setattr(replies, "send_and_get_id", broken_send)
    with caplog.at_level(logging.ERROR, logger="django_whatsapp_login"):
        assert replies.send_question(awaiting, CHAT, "3EB0AAAA") is False
    awaiting.refresh_from_db()
    assert (awaiting.status, awaiting.reason) == (Status.REJECTED, Reason.CONFIRMATION_UNSENT)
    assert f"Confirmation question for login attempt {awaiting.pk} failed" in caplog.text


def test_a_question_that_raises_never_raises_even_if_closing_fails(awaiting, monkeypatch, caplog):
    def cannot_close(attempt):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(replies, "send_and_get_id", broken_send)
    monkeypatch.setattr(attempts, "question_unsent", cannot_close)
    with caplog.at_level(logging.ERROR, logger="django_whatsapp_login"):
        assert replies.send_question(awaiting, CHAT, "3EB0AAAB") is False
    assert f"Login attempt {awaiting.pk} could not be closed" in caplog.text
    awaiting.refresh_from_db()
    assert awaiting.status == Status.AWAITING_CONFIRMATION  # nothing else touched it


def test_a_question_that_could_not_be_sent_rejects_the_attempt(awaiting, monkeypatch):
    monkeypatch.setattr(replies, "send_and_get_id", lambda *args, **kwargs: "")
    assert replies.send_question(awaiting, CHAT, "3EB0AAAC") is False
    awaiting.refresh_from_db()
    assert awaiting.reason == Reason.CONFIRMATION_UNSENT
