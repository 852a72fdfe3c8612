"""Passwordless Django login by sending one WhatsApp message (through Green API)."""

__version__ = "0.1.0.dev0"
