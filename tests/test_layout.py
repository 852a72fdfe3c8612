"""The package layout: each gateway in a folder of its own, and the old public import
paths still naming the very same objects."""

from __future__ import annotations

import importlib
import sys
from unittest import mock

import pytest

from django_whatsapp_login.gateways.greenapi import client as new_client
from django_whatsapp_login.gateways.greenapi import payloads as new_payloads


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("django_whatsapp_login.client", new_client),
        ("django_whatsapp_login.greenapi", new_payloads),
    ],
)
def test_old_path_is_the_new_module(old, new):
    module = importlib.import_module(old)
    assert module is new
    assert sys.modules[old] is new
    parent, _, name = old.rpartition(".")
    assert getattr(importlib.import_module(parent), name) is new


def test_old_names_are_the_same_objects():
    from django_whatsapp_login.client import (
        QUOTA_CACHE_KEY,
        GreenAPIClient,
        GreenAPIError,
        InstanceSettings,
        QuotaExceeded,
        is_loopback,
        parse_flag,
        redact,
    )
    from django_whatsapp_login.greenapi import (
        MAX_BODY_BYTES,
        Ignored,
        IncomingText,
        loads,
        parse_incoming_text,
        personal_id,
    )

    assert GreenAPIClient is new_client.GreenAPIClient
    assert GreenAPIError is new_client.GreenAPIError
    assert QuotaExceeded is new_client.QuotaExceeded
    assert InstanceSettings is new_client.InstanceSettings
    assert parse_flag is new_client.parse_flag
    assert redact is new_client.redact
    assert is_loopback is new_client.is_loopback
    assert QUOTA_CACHE_KEY == new_client.QUOTA_CACHE_KEY
    assert IncomingText is new_payloads.IncomingText
    assert parse_incoming_text is new_payloads.parse_incoming_text
    assert loads is new_payloads.loads
    assert personal_id is new_payloads.personal_id
    assert MAX_BODY_BYTES == new_payloads.MAX_BODY_BYTES
    from django_whatsapp_login.gateways.base import Ignored as base_ignored

    assert Ignored is base_ignored


def test_every_public_name_reaches_through_the_old_path():
    import django_whatsapp_login.client as old_client
    import django_whatsapp_login.greenapi as old_payloads

    for old, new in ((old_client, new_client), (old_payloads, new_payloads)):
        assert new.__all__
        for name in new.__all__:
            assert getattr(old, name) is getattr(new, name), name


def test_patching_the_old_path_patches_the_code():
    """A test suite of an integrator that patches the old path still reaches the code."""
    with mock.patch("django_whatsapp_login.greenapi.loads", side_effect=RuntimeError("x")):
        with pytest.raises(RuntimeError):
            new_payloads.loads(b"{}")
    with mock.patch("django_whatsapp_login.client.MAX_RETRY_AFTER", 1.5):
        assert new_client.MAX_RETRY_AFTER == 1.5
    assert new_client.MAX_RETRY_AFTER == 30.0


def test_alias_modules_hold_no_logic():
    """The alias files only import: no def, no class (the code lives once, in gateways/)."""
    from pathlib import Path

    import django_whatsapp_login

    root = Path(django_whatsapp_login.__file__).parent
    for name in ("client.py", "greenapi.py"):
        source = (root / name).read_text()
        assert "\ndef " not in source and "\nclass " not in source, name


def test_the_doctor_s_old_names_reach_the_green_api_checks():
    from django_whatsapp_login import doctor
    from django_whatsapp_login.doctor import authorization_header, webhook_url_problem
    from django_whatsapp_login.gateways.greenapi import checks

    assert webhook_url_problem is checks.webhook_url_problem
    assert authorization_header is checks.authorization_header
    assert doctor.STATES is checks.STATES
    assert doctor.is_webhook_path is checks.is_webhook_path
    with pytest.raises(AttributeError, match="no_such_name"):
        doctor.no_such_name  # noqa: B018


def test_each_gateway_is_a_folder_with_its_own_checks():
    from django_whatsapp_login.gateways.cloudapi import checks as cloud_checks
    from django_whatsapp_login.gateways.cloudapi.gateway import CloudAPIGateway
    from django_whatsapp_login.gateways.greenapi import checks as green_checks
    from django_whatsapp_login.gateways.greenapi.gateway import GreenAPIGateway

    assert CloudAPIGateway.__module__.startswith("django_whatsapp_login.gateways.cloudapi.")
    assert GreenAPIGateway.__module__.startswith("django_whatsapp_login.gateways.greenapi.")
    assert cloud_checks.run_checks.__module__ == cloud_checks.__name__
    assert green_checks.GreenAPIChecks.__module__ == green_checks.__name__
