"""WHATSAPP_LOGIN_ATTEMPT_TTL is at most 600 s at runtime too, not only in the system check."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from django.core import checks
from django.test import Client

from django_whatsapp_login import conf
from django_whatsapp_login.conf import app_settings
from django_whatsapp_login.models import LoginAttempt

from .conftest import start


@pytest.fixture
def fresh_ttl_warnings(monkeypatch):
    monkeypatch.setattr(conf, "_warned_ttls", set())


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("configured", "used"),
    [(3600, 600), (timedelta(hours=2), 600), (601, 600), (0, 10), (-180, 10), (5, 10)],
)
def test_an_out_of_range_ttl_is_clamped_with_a_warning(
    settings, caplog, fresh_ttl_warnings, configured, used
):
    settings.WHATSAPP_LOGIN_ATTEMPT_TTL = configured
    with caplog.at_level(logging.WARNING, logger="django_whatsapp_login"):
        assert app_settings.ATTEMPT_TTL == timedelta(seconds=used)
        start(Client())
        start(Client())
    attempt = LoginAttempt.objects.order_by("pk").first()
    assert attempt.expires_at - attempt.created_at == timedelta(seconds=used)
    warnings = [r for r in caplog.records if "WHATSAPP_LOGIN_ATTEMPT_TTL" in r.getMessage()]
    assert len(warnings) == 1  # once per process and value, not once per login
    assert f"using {used} seconds" in warnings[0].getMessage()
    # The system check still reports the setting itself.
    assert "whatsapp_login.E006" in {m.id for m in checks.run_checks()}


@pytest.mark.parametrize("ttl", [10, 180, 600, timedelta(minutes=5)])
def test_a_ttl_in_range_is_used_as_is_without_a_warning(settings, caplog, fresh_ttl_warnings, ttl):
    settings.WHATSAPP_LOGIN_ATTEMPT_TTL = ttl
    expected = ttl if isinstance(ttl, timedelta) else timedelta(seconds=ttl)
    with caplog.at_level(logging.WARNING, logger="django_whatsapp_login"):
        assert app_settings.ATTEMPT_TTL == expected
    assert "WHATSAPP_LOGIN_ATTEMPT_TTL" not in caplog.text
