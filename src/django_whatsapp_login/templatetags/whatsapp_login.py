"""``{% load whatsapp_login %}``: put the WhatsApp login widget into your own templates.

``{% whatsapp_login_widget %}`` renders the QR code, the "Open WhatsApp" button, the message,
the live status and the no-JavaScript forms for this request's attempt (reusing the
session's live one), followed by the widget's script and stylesheet unless
``assets=False``. Optional ``next="/somewhere/"`` (only safe URLs are kept).
The view that renders the template must be reached with a session (as every Django page
with ``SessionMiddleware``) and should not be cached (``never_cache``).
"""

from __future__ import annotations

from typing import Any

from django import template
from django.template.loader import render_to_string
from django.utils.safestring import SafeString

from ..views import RateLimited, Unavailable, widget_context

register = template.Library()


@register.simple_tag(takes_context=True)
def whatsapp_login_widget(
    context: template.Context,
    next: str | None = None,
    assets: bool = True,
) -> SafeString:
    request = context.get("request")
    if request is None:
        raise template.TemplateSyntaxError(
            "{% whatsapp_login_widget %} needs the request in the template context: enable "
            "django.template.context_processors.request."
        )
    try:
        data: dict[str, Any] = widget_context(request, next_url=next)
    except Unavailable:
        return SafeString(
            render_to_string("whatsapp_login/widget_unavailable.html", request=request)
        )
    except RateLimited as limited:
        return SafeString(
            render_to_string(
                "whatsapp_login/widget_rate_limited.html",
                {"retry_after": limited.retry_after},
                request=request,
            )
        )
    data["assets"] = assets
    return SafeString(render_to_string("whatsapp_login/embed.html", data, request=request))
