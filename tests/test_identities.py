"""WhatsApp identities: parsing ids, link/unlink, the one-user-per-id constraint, the admin."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from django_whatsapp_login import identities, signals
from django_whatsapp_login.identities import WhatsAppId, parse_id
from django_whatsapp_login.models import WhatsAppIdentity

pytestmark = pytest.mark.django_db

LID = "120650379300963@lid"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("120650379300963@lid", ("lid", LID)),
        ("120650379300963:7@lid", ("lid", LID)),
        (" 120650379300963@lid ", ("lid", LID)),
        ("996555000123@c.us", ("phone", "+996555000123")),
        ("996555000123:3@c.us", ("phone", "+996555000123")),
        ("+996 555 000-123", ("phone", "+996555000123")),
        ("00996555000123", ("phone", "+996555000123")),
    ],
)
def test_parse_id_reads_every_documented_form(raw, expected):
    assert parse_id(raw) == WhatsAppId(*expected)


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        None,
        123,
        "120363043968066561@g.us",
        "status@broadcast",
        "120363043968066561@newsletter",
        "abc@lid",
        "0123@lid",
        "@lid",
        "1" * 200 + "@lid",
        "12065037930096\x003@lid",
        "not a phone",
    ],
)
def test_parse_id_refuses_what_it_cannot_read(raw):
    with pytest.raises(identities.InvalidIdentity):
        parse_id(raw)


def test_link_is_idempotent_and_sends_one_signal(make_user, django_capture_on_commit_callbacks):
    user = make_user()
    received = []

    def receiver(**kwargs):
        received.append(kwargs)

    signals.identity_linked.connect(receiver)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            first = identities.link(user, "120650379300963:2@lid", source="enrollment")
        with django_capture_on_commit_callbacks(execute=True):
            again = identities.link(user, LID, source="traffic")
    finally:
        signals.identity_linked.disconnect(receiver)
    assert first.pk == again.pk
    assert (first.kind, first.value, first.source) == ("lid", LID, "enrollment")
    assert first.verified_at is not None
    assert WhatsAppIdentity.objects.count() == 1
    assert len(received) == 1
    assert received[0]["user"] == user and received[0]["source"] == "enrollment"


def test_an_id_never_moves_to_another_user(make_user):
    alice, bob = make_user(), make_user(phone="+996555000124")
    identities.link(alice, LID)
    with pytest.raises(identities.IdentityConflict):
        identities.link(bob, LID)
    assert list(WhatsAppIdentity.objects.values_list("user_id", flat=True)) == [alice.pk]
    # bob cannot remove alice's identity either
    assert identities.unlink(bob, LID) is False
    assert WhatsAppIdentity.objects.filter(user=alice).count() == 1


def test_the_database_refuses_a_second_owner(make_user):
    alice, bob = make_user(), make_user(phone="+996555000124")
    WhatsAppIdentity.objects.create(user=alice, kind="lid", value=LID, source="admin")
    with pytest.raises(IntegrityError), transaction.atomic():
        WhatsAppIdentity.objects.create(user=bob, kind="lid", value=LID, source="admin")


def test_unlink_removes_only_that_id_and_signals(make_user, django_capture_on_commit_callbacks):
    user = make_user()
    identities.link(user, LID)
    identities.link(user, "+996555000123")
    received = []

    def receiver(**kwargs):
        received.append(kwargs)

    signals.identity_unlinked.connect(receiver)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            assert identities.unlink(user, "120650379300963:9@lid") is True
            assert identities.unlink(user, LID) is False
    finally:
        signals.identity_unlinked.disconnect(receiver)
    assert list(WhatsAppIdentity.objects.values_list("kind", flat=True)) == ["phone"]
    assert [(r["kind"], r["value"]) for r in received] == [("lid", LID)]


def test_link_refuses_an_unknown_source(make_user):
    with pytest.raises(ValueError, match="source"):
        identities.link(make_user(), LID, source="guess")
    assert not WhatsAppIdentity.objects.exists()


def test_find_identities_answers_in_one_query(make_user, django_assert_num_queries):
    alice, bob = make_user(), make_user(phone="+996555000124")
    identities.link(alice, LID)
    identities.link(bob, "+996555000124")
    wanted = [
        WhatsAppId("lid", LID),
        WhatsAppId("phone", "+996555000124"),
        WhatsAppId("phone", "+996555000999"),
    ]
    with django_assert_num_queries(1):
        found = identities.find_identities(wanted)
    assert found == {wanted[0]: alice.pk, wanted[1]: bob.pk}
    with django_assert_num_queries(0):
        assert identities.find_identities([]) == {}


def test_masked_value_never_shows_a_full_number(make_user):
    user = make_user()
    phone = identities.link(user, "+996555000123")
    lid = identities.link(user, LID)
    assert "555000" not in phone.masked_value and phone.masked_value.endswith("123")
    assert lid.masked_value == "•••0963@lid"
    assert "555000" not in str(phone)


def test_admin_adds_a_canonical_identity_and_refuses_a_taken_one(admin_client, make_user):
    alice, bob = make_user(), make_user(phone="+996555000124")
    url = "/admin/whatsapp_login/whatsappidentity/add/"
    response = admin_client.post(
        url, {"user": alice.pk, "value": "120650379300963:4@lid", "source": "admin"}
    )
    assert response.status_code == 302, response.content
    identity = WhatsAppIdentity.objects.get()
    assert (identity.kind, identity.value, identity.user_id) == ("lid", LID, alice.pk)
    assert identity.verified_at is not None
    response = admin_client.post(url, {"user": bob.pk, "value": LID, "source": "admin"})
    assert response.status_code == 200
    assert "already belongs" in response.content.decode()
    response = admin_client.post(url, {"user": bob.pk, "value": "group@g.us", "source": "admin"})
    assert response.status_code == 200
    assert WhatsAppIdentity.objects.count() == 1


def test_a_link_attempt_never_logs_anyone_in(browser, make_user, rf):
    """The backend authenticates login attempts only, even when a link attempt is confirmed."""
    from django.contrib.sessions.backends.db import SessionStore
    from django.utils import timezone

    from django_whatsapp_login import attempts
    from django_whatsapp_login.backends import WhatsAppLoginBackend
    from django_whatsapp_login.models import Purpose, Status

    user = make_user()
    request = rf.post("/whatsapp/link/")
    request.session = SessionStore()
    attempt, _code = attempts.create_attempt(request, purpose=Purpose.LINK, user=user)
    attempt.status = Status.CONFIRMED
    attempt.confirmed_at = timezone.now()
    attempt.save()
    assert WhatsAppLoginBackend().authenticate(request, whatsapp_login_attempt=attempt) is None
    attempt.refresh_from_db()
    assert attempt.status == Status.CONFIRMED
    with pytest.raises(ValueError, match="user"):
        attempts.create_attempt(request, purpose=Purpose.LINK)
