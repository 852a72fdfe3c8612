"""Meta's WhatsApp Cloud API: webhook parsing and signatures, the Graph API client, the
gateway and its doctor checks."""

from __future__ import annotations
