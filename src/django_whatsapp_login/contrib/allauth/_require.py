"""Imported first by every module of this package that imports allauth."""

from __future__ import annotations

import re

from . import MIN_ALLAUTH_VERSION, MIN_ALLAUTH_VERSION_STR

try:
    import allauth
except ImportError as err:  # pragma: no cover - the checks report it (whatsapp_login.E041)
    raise ImportError(
        "django_whatsapp_login.contrib.allauth needs django-allauth >= "
        f'{MIN_ALLAUTH_VERSION_STR}: pip install "django-whatsapp-login[allauth]"'
    ) from err


def allauth_version() -> tuple[int, ...]:
    """allauth's version as numbers, e.g. ``(65, 22, 1)``; ``()`` if it cannot be read."""
    # 65.x has __version__ (from the package metadata); older releases had VERSION too.
    text = str(getattr(allauth, "__version__", "") or "")
    match = re.match(r"(\d+)\.(\d+)(?:\.(\d+))?", text)
    if match is None:
        return ()
    return tuple(int(part) for part in match.groups(default="0"))


def is_supported() -> bool:
    return allauth_version() >= MIN_ALLAUTH_VERSION
