"""ASGI entry point of the example project (``uvicorn config.asgi:application``).

``live_events`` answers the login page's push channel (``whatsapp_login:events``) with one
small coroutine per waiting page and hands every other request to Django (docs/live.md).
"""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

django_application = get_asgi_application()

from django_whatsapp_login.asgi import live_events  # noqa: E402  (after the setup)

application = live_events(django_application)
