"""The lean ASGI wrapper's (asgi.py) request and routing, without a server: what
StreamRequest keeps of the scope (the proxy's scheme header only when
SECURE_PROXY_SSL_HEADER names it), and which requests live_events sends to the stream
(under a root path too) and which to the wrapped application."""

from __future__ import annotations

import asyncio

from django_whatsapp_login import asgi

EVENTS = "/whatsapp/events/"


def scope(path: str = EVENTS, **extra):
    return {"type": "http", "method": "GET", "path": path, "headers": [], **extra}


def test_the_proxy_s_scheme_header_is_kept_only_when_the_setting_names_it(settings):
    headers = [(b"x-forwarded-proto", b"https"), (b"x-other", b"dropped")]
    settings.SECURE_PROXY_SSL_HEADER = None
    plain = asgi.StreamRequest(scope(headers=headers, client=("203.0.113.9", 50000)))
    assert plain.is_secure() is False
    assert "HTTP_X_FORWARDED_PROTO" not in plain.META and "HTTP_X_OTHER" not in plain.META
    assert plain.META["REMOTE_ADDR"] == "203.0.113.9"

    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    behind_proxy = asgi.StreamRequest(scope(headers=headers))
    assert behind_proxy.META["HTTP_X_FORWARDED_PROTO"] == "https"
    assert behind_proxy.is_secure() is True
    assert "REMOTE_ADDR" not in behind_proxy.META  # no client in the scope (a unix socket)


def test_split_cookie_headers_are_read_as_one(settings):
    request = asgi.StreamRequest(
        scope(
            headers=[
                (b"cookie", b"a=1"),
                (b"Cookie", f"{settings.SESSION_COOKIE_NAME}=sessionkey0123456789".encode()),
            ]
        )
    )
    assert request.COOKIES == {"a": "1", settings.SESSION_COOKIE_NAME: "sessionkey0123456789"}
    assert request.session.session_key == "sessionkey0123456789"


def test_only_the_events_url_goes_to_the_stream(monkeypatch):
    served: list[str] = []
    passed: list[tuple[str, str]] = []

    async def serve(scope, receive, send):
        served.append(scope["path"])

    async def inner(scope, receive, send):
        passed.append((scope["type"], scope.get("path", "")))

    monkeypatch.setattr(asgi, "serve", serve)
    application = asgi.live_events(inner)
    assert application.inner is inner

    async def main():
        for one in (
            scope(),
            scope("/site" + EVENTS, root_path="/site"),  # mounted under a prefix
            scope("/whatsapp/start/"),
            scope(EVENTS + "more/"),
            {"type": "websocket", "path": EVENTS},
            {"type": "lifespan"},
        ):
            await application(one, None, None)

    asyncio.run(main())
    assert served == [EVENTS, "/site" + EVENTS]
    assert passed == [
        ("http", "/whatsapp/start/"),
        ("http", EVENTS + "more/"),
        ("websocket", EVENTS),
        ("lifespan", ""),
    ]


def test_without_an_application_django_s_is_wrapped():
    from django.core.handlers.asgi import ASGIHandler

    assert isinstance(asgi.live_events().inner, ASGIHandler)


def serve_once(settings, monkeypatch, headers):
    """serve() one GET with open_stream replaced: what language it ran in, what it sent."""
    from django.http import HttpResponse
    from django.utils import translation

    from django_whatsapp_login import events

    seen: list[tuple[str, str, bool]] = []
    sent: list[dict] = []

    async def open_stream(request, *, thread_sensitive=True):
        seen.append((request.LANGUAGE_CODE, translation.get_language(), thread_sensitive))
        return HttpResponse(status=204)

    async def send(message):
        sent.append(message)

    settings.WHATSAPP_LOGIN_LIVE = "inprocess"  # off, every stream is refused at once (204)
    monkeypatch.setattr(events, "open_stream", open_stream)
    asyncio.run(asgi.serve(scope(headers=headers), None, send))
    return seen, sent


def test_the_stream_s_language_follows_the_locale_middleware(settings, monkeypatch):
    settings.LANGUAGE_CODE = "en-us"
    headers = [(b"accept-language", b"ru,en;q=0.5")]
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, "django.middleware.locale.LocaleMiddleware"]
    seen, sent = serve_once(settings, monkeypatch, headers)
    assert seen == [("ru", "ru", False)]  # and the shared thread pool, not a thread per stream
    start, body = sent
    assert start["status"] == 204 and (b"x-content-type-options", b"nosniff") in start["headers"]
    assert body == {"type": "http.response.body", "body": b""}


def test_without_the_locale_middleware_the_stream_speaks_the_site_s_language(settings, monkeypatch):
    settings.LANGUAGE_CODE = "en-us"
    settings.MIDDLEWARE = [
        m for m in settings.MIDDLEWARE if m != "django.middleware.locale.LocaleMiddleware"
    ]
    seen, _sent = serve_once(settings, monkeypatch, [(b"accept-language", b"ru")])
    assert seen == [("en-us", "en-us", False)]
