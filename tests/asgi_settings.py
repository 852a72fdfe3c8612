"""tests.settings for the servers the push-channel tests start (uvicorn, runserver).

``WHATSAPP_LOGIN_TEST_OVERRIDES`` holds a JSON object of settings to change, so each test
starts the server it needs (notifier, limits, timeouts) without a settings file each.
"""

import json
import os

from tests.settings import *  # noqa: F403

globals().update(json.loads(os.environ.get("WHATSAPP_LOGIN_TEST_OVERRIDES", "{}")))
