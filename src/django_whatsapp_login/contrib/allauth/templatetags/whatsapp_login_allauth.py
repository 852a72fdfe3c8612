"""``{% load whatsapp_login_allauth %}``: helpers for allauth's account pages."""

from __future__ import annotations

from django import template
from django.urls import NoReverseMatch, reverse

register = template.Library()

LINK_URL_NAME = "whatsapp_login:link"


@register.simple_tag
def whatsapp_login_link_url() -> str:
    """The URL of the page that links a WhatsApp identity to the logged-in user, or ``""``
    while the site has no such page (system check ``whatsapp_login.W041``)."""
    try:
        return reverse(LINK_URL_NAME)
    except NoReverseMatch:
        return ""
