"""The audit trail in the admin: read-only, filterable, searchable by masked phone, no secrets."""

from __future__ import annotations

import pytest
from django.test import Client

from django_whatsapp_login.models import LoginAttempt

from .conftest import incoming, start

pytestmark = pytest.mark.django_db
CHANGELIST = "/admin/whatsapp_login/loginattempt/"


@pytest.fixture
def admin_client_(django_user_model):
    admin = django_user_model.objects.create_superuser("boss", "boss@example.invalid", "pw")
    client = Client()
    client.force_login(admin)
    return client


@pytest.fixture
def outcomes(webhook, make_user):
    make_user("+996700123456")
    ok = start(Client(REMOTE_ADDR="198.51.100.1"))
    webhook.post(incoming(ok["message"]))
    unknown = start(Client(REMOTE_ADDR="198.51.100.2"))
    webhook.post(incoming(unknown["message"], sender="996700999888@c.us"))
    return ok, unknown


def test_changelist_filters_and_search(admin_client_, outcomes):
    _ok, _unknown = outcomes
    page = admin_client_.get(CHANGELIST).content.decode()
    assert "+996•••456" in page and "+996•••888" in page
    rejected = admin_client_.get(
        CHANGELIST + "?status__exact=rejected&reason__exact=unknown_number"
    )
    assert "+996•••888" in rejected.content.decode()
    assert "+996•••456" not in rejected.content.decode()
    found = admin_client_.get(CHANGELIST, {"q": "+996•••456"}).content.decode()
    assert "+996•••456" in found and "+996•••888" not in found
    for data in outcomes:
        assert data["code"] not in page


def test_detail_is_read_only_and_shows_no_secret(admin_client_, outcomes):
    attempt = LoginAttempt.objects.get(reason="confirmed")
    page = admin_client_.get(f"{CHANGELIST}{attempt.pk}/change/")
    html = page.content.decode()
    assert page.status_code == 200
    assert attempt.code_hash not in html and attempt.binding_hash not in html
    assert attempt.sender_hash not in html
    assert outcomes[0]["code"] not in html
    assert 'name="_save"' not in html  # nothing to save
    assert admin_client_.get(CHANGELIST + "add/").status_code == 403
    response = admin_client_.post(f"{CHANGELIST}{attempt.pk}/change/", {"status": "consumed"})
    assert response.status_code == 403
    assert (
        admin_client_.post(f"{CHANGELIST}{attempt.pk}/delete/", {"post": "yes"}).status_code == 403
    )
    attempt.refresh_from_db()
    assert attempt.status == "confirmed"
