"""Green API: a WhatsApp account through a linked device. The webhook parsing lives in
``django_whatsapp_login.greenapi`` and the HTTP client in ``django_whatsapp_login.client``
(their import paths are public); :mod:`.gateway` puts them behind the gateway interface."""

from __future__ import annotations
