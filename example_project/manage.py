#!/usr/bin/env python
"""Django's command-line utility for the example project. Run it from this folder."""

from __future__ import annotations

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    try:
        from django.conf import settings

        settings.INSTALLED_APPS  # noqa: B018 - loads the settings, which refuse to start
    except ImproperlyConfigured as err:
        # A missing SECRET_KEY is the expected first error on a fresh server: say what to
        # do in one line instead of a traceback.
        sys.exit(f"The example project refuses to start: {err}")
    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
