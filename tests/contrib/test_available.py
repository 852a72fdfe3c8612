from __future__ import annotations

from .conftest import REQUIRED, why_not


def test_allauth_suite_runs():
    import pytest

    reason = why_not()
    if reason:
        if REQUIRED:
            pytest.fail(f"WHATSAPP_LOGIN_ALLAUTH=1, but {reason}.")
        pytest.skip(f"allauth integration tests: {reason} (tox -e py313-django61-allauth)")
