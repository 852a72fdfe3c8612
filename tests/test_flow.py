from __future__ import annotations

import pytest

from django_whatsapp_login.models import LoginAttempt, Status

from .conftest import incoming, start

pytestmark = pytest.mark.django_db


def test_full_login(browser, webhook, make_user):
    user = make_user("+996700123456")
    data = start(browser)
    assert data["message"] == f"AMT LOGIN {data['code']}"
    assert data["link"] == "https://wa.me/996555000001?text=AMT%20LOGIN%20" + data["code"]
    assert browser.get("/whatsapp/status/").json()["status"] == "pending"

    response = webhook.post(incoming(data["message"]))
    assert response.status_code == 200
    assert response.json() == {"status": "confirmed"}
    assert browser.get("/whatsapp/status/").json()["status"] == "confirmed"

    response = browser.post("/whatsapp/complete/")
    assert response.status_code == 200
    assert response.json() == {"redirect": "/"}
    assert browser.get("/").content == f"Hello {user.username}".encode()
    assert LoginAttempt.objects.get().status == Status.CONSUMED
