"""Baselines and the sesame "email me a link" page, for the benchmarks only."""

from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.mail import send_mail
from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from sesame.utils import get_query_string


@csrf_exempt
def bare(request):
    """The floor: a Django JSON view behind the same middleware (GET or POST)."""
    return JsonResponse({"ok": True})


def bare_session(request):
    """The floor for anything bound to the browser: reads the session, answers JSON."""
    return JsonResponse({"ok": True, "has": "_whatsapp_login" in request.session})


@login_required
def home(request):
    return HttpResponse(f"Hello {request.user.username}")


def sesame_request(request):
    """GET: a form; POST: email a one-time magic link (django-sesame) to that address."""
    if request.method == "POST":
        email = request.POST.get("email", "")
        users = list(get_user_model()._default_manager.filter(email=email, is_active=True)[:2])
        if len(users) == 1:
            link = request.build_absolute_uri("/sesame/login/" + get_query_string(users[0]))
            send_mail("Your login link", f"Log in: {link}\n", None, [email])
        return HttpResponse("Check your inbox.")
    from django.middleware.csrf import get_token

    return HttpResponse(
        '<form method="post"><input type="hidden" name="csrfmiddlewaretoken" '
        f'value="{get_token(request)}"><input name="email"><button>Send</button></form>'
    )
