"""Tests of django_whatsapp_login.contrib.allauth; they need django-allauth and
tests.settings_allauth (``tox -e py313-django61-allauth``). Elsewhere they are skipped, unless
``WHATSAPP_LOGIN_ALLAUTH=1`` (set by that tox env) turns the skip into a failure."""
