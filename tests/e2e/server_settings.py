"""The example project's settings, as the browser tests serve them under gunicorn.

Everything comes from ``example_project/config/settings.py`` (and its environment
variables); only what plain HTTP on 127.0.0.1 needs is changed here:

- DEBUG stays off (the default of these tests): the sandbox form is gone and the real
  webhook, authenticated by ``GREEN_API_WEBHOOK_TOKEN``, delivers every message;
- the cookies are not "Secure", because the server speaks http on the loopback;
- static files are served by ``django.contrib.staticfiles.views.serve`` (see
  ``server_urls``), since gunicorn serves no files and the package adds no runtime
  dependency such as WhiteNoise.
"""

from config.settings import *  # noqa: F403

SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
ROOT_URLCONF = "tests.e2e.server_urls"

import os  # noqa: E402

# The Cloud API tests point the gateway at the fake Graph API on 127.0.0.1.
if os.environ.get("E2E_CLOUD_API_URL"):
    WHATSAPP_LOGIN_CLOUD_API_URL = os.environ["E2E_CLOUD_API_URL"]
