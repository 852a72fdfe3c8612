"""The link page (``whatsapp_login:link``): a logged-in user links WhatsApp to their account.

It shows a code exactly as the login page does (the same widget, script and attempt
machinery: bound to the session, single use, short TTL, rate limited), but the attempt has
``purpose="link"`` and the user set; when its code arrives, the webhook records the
sender's ids (phone and/or LID) for that user (``attempts._link``). Nothing here ever logs
anyone in. The page also lists the user's identities, each with an "Unlink" button.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.clickjacking import xframe_options_deny
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_GET, require_POST

from . import attempts, identities
from .models import LoginAttempt, Purpose, Reason, Status, WhatsAppIdentity
from .views import (
    RateLimited,
    Unavailable,
    _binding_cookie,
    _business_phone,
    _json,
    _no_store,
    _start_or_reuse,
    _too_many,
    _wants_html,
    attempt_payload,
    linked_message,
    status_message,
    unavailable_message,
    widget_context,
)


def close_on_logout(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    """``user_logged_out`` receiver: this session's pending link code stops working.

    A link page left on screen after logging out would otherwise let whoever sends its code
    in the next minutes link their WhatsApp to (and so log in as) the user who left.
    """
    if request is None or not hasattr(request, "session") or user is None:
        return
    attempt_id = attempts.session_attempt_id(request)
    if attempt_id is None:
        return
    now = timezone.now()
    LoginAttempt.objects.filter(
        pk=attempt_id, purpose=Purpose.LINK, user_id=user.pk, status=Status.PENDING
    ).update(status=Status.EXPIRED, reason=Reason.EXPIRED, closed_at=now)


#: The one-shot message the link page shows after a redirect (unlink, new code).
LINK_FLASH_KEY = "_whatsapp_login_link_flash"


def _linked_attempt(request: HttpRequest) -> bool:
    """True when this session's link attempt, for this user, has just linked WhatsApp."""
    attempt = attempts.get_session_attempt(request)
    return (
        attempt is not None
        and attempt.purpose == Purpose.LINK
        and attempt.user_id == request.user.pk
        and attempt.status == Status.CONSUMED
        and attempt.reason == Reason.LINKED
    )


def _refused_message(request: HttpRequest) -> str:
    """Why this session's link attempt was refused, if it was (shown once: a new code follows)."""
    attempt = attempts.get_session_attempt(request)
    if (
        attempt is not None
        and attempt.purpose == Purpose.LINK
        and attempt.user_id == request.user.pk
        and attempt.status == Status.REJECTED
    ):
        return status_message(Status.REJECTED, attempt.reason, Purpose.LINK)
    return ""


def _identities(request: HttpRequest) -> list[WhatsAppIdentity]:
    user = request.user
    if not isinstance(user, AbstractBaseUser):
        return []
    return list(WhatsAppIdentity.objects.filter(user_id=user.pk).order_by("kind", "value"))


@_binding_cookie
@require_GET
@never_cache
@xframe_options_deny
@ensure_csrf_cookie
def link_page(request: HttpRequest) -> HttpResponse:
    """The user's linked WhatsApp ids, and a code that links one more when sent."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    context = {
        "identities": _identities(request),
        "link_flash": request.session.pop(LINK_FLASH_KEY, ""),
        "unlink_url": reverse("whatsapp_login:link_unlink"),
    }
    if _linked_attempt(request):
        # Its code was sent: say so (the no-JavaScript "Check again" lands here), and
        # make a new code only when asked ("Link another WhatsApp account").
        context.update({"linked": True, "linked_message": linked_message()})
        return _no_store(render(request, "whatsapp_login/link.html", context))
    refused = _refused_message(request)
    try:
        context.update(widget_context(request, purpose=Purpose.LINK))
    except Unavailable:
        context["unavailable_message"] = unavailable_message()
        return _no_store(render(request, "whatsapp_login/link.html", context, status=503))
    except RateLimited as limited:
        context["retry_after"] = limited.retry_after
        response = render(request, "whatsapp_login/link.html", context, status=429)
        response["Retry-After"] = str(limited.retry_after)
        return _no_store(response)
    if refused:  # the code before this one was refused: say why (pages without JavaScript)
        context["flash"] = refused
    context["start_url"] = reverse("whatsapp_login:link_start")
    context["page_url"] = reverse("whatsapp_login:link")
    return _no_store(render(request, "whatsapp_login/link.html", context))


@_binding_cookie
@require_POST
@never_cache
def link_start(request: HttpRequest) -> HttpResponse:
    """Start a link attempt for this session and user, or return its live one (JSON).

    The link page's "Get a new code" posts here, so a restart makes a link attempt, never a
    login attempt. Counted against ``WHATSAPP_LOGIN_RATE_LIMIT_START`` (its own buckets).
    """
    html = _wants_html(request)
    if not request.user.is_authenticated:
        if html:
            return redirect_to_login(reverse("whatsapp_login:link"))
        return _json({"error": "login_required"}, status=403)
    try:
        _business_phone()
        attempt, code = _start_or_reuse(request, purpose=Purpose.LINK)
    except Unavailable:
        return _json({"error": "unavailable", "status_message": unavailable_message()}, status=503)
    except RateLimited as limited:
        return _too_many(limited.retry_after)
    if html:
        return HttpResponseRedirect(reverse("whatsapp_login:link"), status=303)
    return _json(attempt_payload(attempt, code))


@require_POST
@never_cache
def link_unlink(request: HttpRequest) -> HttpResponse:
    """Unlink one of the logged-in user's WhatsApp ids (form field ``identity``: its id).

    Only the user's own identities: any other value (someone else's, unknown, malformed)
    is a 404 and changes nothing.
    """
    user = request.user
    if not isinstance(user, AbstractBaseUser) or not user.is_authenticated:
        return redirect_to_login(reverse("whatsapp_login:link"))
    raw = request.POST.get("identity", "")
    if not raw.isascii() or not raw.isdigit() or len(raw) > 20:
        raise Http404("No such WhatsApp identity.")
    identity = WhatsAppIdentity.objects.filter(pk=int(raw), user_id=user.pk).first()
    if identity is None:
        raise Http404("No such WhatsApp identity.")
    identities.unlink(user, identities.WhatsAppId(identity.kind, identity.value))
    request.session[LINK_FLASH_KEY] = _("%(identity)s was unlinked from your account.") % {
        "identity": identity.masked_value
    }
    return HttpResponseRedirect(reverse("whatsapp_login:link"), status=303)
