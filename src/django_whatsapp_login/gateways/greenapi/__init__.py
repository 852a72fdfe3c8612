"""Green API: a WhatsApp account through a linked device.

:mod:`.payloads` parses its webhook bodies, :mod:`.client` is its HTTP API, :mod:`.gateway`
puts them behind the gateway interface. The older import paths ``django_whatsapp_login.greenapi``
and ``django_whatsapp_login.client`` are public and name the same modules.
"""

from __future__ import annotations
