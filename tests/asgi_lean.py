"""The test project as an ASGI application with the lean events wrapper
(uvicorn tests.asgi_lean:application)."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.asgi_settings")

from django_whatsapp_login.asgi import live_events

application = live_events()
