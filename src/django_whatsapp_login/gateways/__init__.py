"""WhatsApp providers behind one interface (see :mod:`.base`); one folder per provider."""

from __future__ import annotations

from .base import Button, Gateway, GatewayError, Ignored, IncomingMessage

__all__ = ["Button", "Gateway", "GatewayError", "Ignored", "IncomingMessage"]
