from __future__ import annotations

import os
from importlib.util import find_spec

import pytest
from django.conf import settings

REQUIRED = os.environ.get("WHATSAPP_LOGIN_ALLAUTH") == "1"


def why_not() -> str:
    if find_spec("allauth") is None:
        return "django-allauth is not installed"
    if "django_whatsapp_login.contrib.allauth" not in settings.INSTALLED_APPS:
        return "not running with --ds tests.settings_allauth"
    return ""


if why_not():
    if REQUIRED:
        raise pytest.UsageError(f"WHATSAPP_LOGIN_ALLAUTH=1, but {why_not()}.")
    # These modules import allauth; test_available.py reports the skip.
    collect_ignore_glob = ["test_allauth_*.py"]
