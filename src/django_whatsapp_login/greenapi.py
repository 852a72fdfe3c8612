"""The old, public import path of the Green API webhook parser: an alias of
:mod:`django_whatsapp_login.gateways.greenapi.payloads`, where the code lives.

It is that very module (``sys.modules`` names it twice), not a copy of its names, so
patching ``django_whatsapp_login.greenapi.X`` patches the parser itself. The star import is
for type checkers and readers.
"""

from __future__ import annotations

import sys

from .gateways.greenapi import payloads as _module
from .gateways.greenapi.payloads import *  # noqa: F403

sys.modules[__name__] = _module
