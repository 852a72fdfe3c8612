"""The no-cache headers of the hot answers (the status poll, the webhook), computed once.

Django's ``never_cache`` parses and rebuilds ``Cache-Control`` on every response
(``patch_cache_control``) and formats ``Expires`` each time; on the two endpoints that
answer most often that was a measurable share of the request (docs/benchmarks.md). These
put the same headers on a response from constants.
"""

from __future__ import annotations

import time

from django.http import HttpResponse
from django.utils.http import http_date

#: What ``never_cache`` gives (``no-store`` first: what :func:`views._no_store` put before).
NEVER_CACHE = "no-store, max-age=0, no-cache, must-revalidate, private"

_expires: list[object] = [0, ""]


def _now_http_date() -> str:
    """``Expires: now`` as ``never_cache`` writes it, formatted at most once a second."""
    now = int(time.time())
    if _expires[0] != now:
        _expires[:] = [now, http_date(now)]
    return str(_expires[1])


def never_cache(response: HttpResponse) -> HttpResponse:
    """``Cache-Control`` and ``Expires`` as Django's ``never_cache`` decorator sets them."""
    response["Cache-Control"] = NEVER_CACHE
    if "Expires" not in response:
        response["Expires"] = _now_http_date()
    return response


def never_cache_same_origin(response: HttpResponse) -> HttpResponse:
    """:func:`never_cache` plus ``Referrer-Policy: same-origin`` (the browser's endpoints)."""
    never_cache(response)
    response["Referrer-Policy"] = "same-origin"
    return response
