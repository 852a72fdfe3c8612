"""Secrets never reach the logs: the webhook token, full codes, full phone numbers."""

from __future__ import annotations

import logging

import pytest

from .conftest import TOKEN, incoming, start

pytestmark = pytest.mark.django_db


def test_no_secret_in_any_log_line(browser, webhook, make_user, caplog):
    caplog.set_level(logging.DEBUG)
    make_user("+996700123456")
    data = start(browser)
    webhook.post(incoming(data["message"]), token="wrong-" + TOKEN)
    webhook.post(incoming(data["message"]))
    webhook.post(incoming(data["message"], "996700999888@c.us"))  # conflicting sender
    webhook.post(incoming("AMT LOGIN AAAAAAAAAAAAAAAA", "996700999777@c.us"))  # unknown code
    browser.post("/whatsapp/complete/")

    text = "\n".join(record.getMessage() for record in caplog.records)
    assert caplog.records, "the flow logs what happens"
    assert TOKEN not in text
    assert data["code"] not in text
    for phone in ("996700123456", "996700999888", "996700999777"):
        assert phone not in text
    assert "+996•••456" in text
