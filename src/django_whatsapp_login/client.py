"""The old, public import path of the Green API client: an alias of
:mod:`django_whatsapp_login.gateways.greenapi.client`, where the code lives.

It is that very module (``sys.modules`` names it twice), not a copy of its names: classes,
``isinstance`` checks and ``mock.patch("django_whatsapp_login.client.X")`` all reach the
one object. The star import is for type checkers and readers.
"""

from __future__ import annotations

import sys

from .gateways.greenapi import client as _module
from .gateways.greenapi.client import *  # noqa: F403

sys.modules[__name__] = _module
