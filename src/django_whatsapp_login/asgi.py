"""The push channel without Django's request machinery per held connection.

``live_events(app)`` wraps a project's ASGI application::

    # asgi.py
    from django.core.asgi import get_asgi_application
    from django_whatsapp_login.asgi import live_events

    application = live_events(get_asgi_application())

Requests for the ``whatsapp_login:events`` URL (resolved once, on the first request) are
answered by one small coroutine per connection; everything else goes to ``app``. The
answers are those of the Django view (``events.py``): the same rules (the session cookie,
the session, the browser binding, the limits per session, IP and worker, the heartbeat,
the timeout, the fallback to polling), the same code (``events.refusal``,
``events.open_stream``, ``events.stream``). What a held stream does not carry is Django's
per-request cost: no ``ASGIRequest``, no middleware, no thread kept per stream, no
``sync_to_async`` per re-read (woken streams re-read in batches, ``events.Reader``).

The stream reads the session itself (``SESSION_ENGINE`` and ``SESSION_COOKIE_NAME``) and
never writes it; it runs none of the project's middleware, so what a middleware would do
for this URL does not happen here (the answers carry ``Cache-Control: no-store`` and
``X-Content-Type-Options: nosniff`` themselves). With ``LocaleMiddleware`` in
``MIDDLEWARE`` the language comes from the request as that middleware would choose it
(cookie, ``Accept-Language``), else ``LANGUAGE_CODE``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from importlib import import_module
from typing import Any, cast

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.http.cookie import parse_cookie
from django.urls import get_script_prefix, reverse
from django.utils import translation

# ``events`` (and the models behind it) is imported on the first request: an asgi.py
# imports this module before Django is set up.

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: The request headers the stream's rules read (cookies, the client address behind a
#: proxy, the scheme behind a proxy, the language).
_KEPT_HEADERS = {
    b"cookie": "HTTP_COOKIE",
    b"x-forwarded-for": "HTTP_X_FORWARDED_FOR",
    b"accept-language": "HTTP_ACCEPT_LANGUAGE",
}


class StreamRequest(HttpRequest):
    """As much of a request as the stream's rules read: the cookies, the session, the
    client address, the scheme. Small, since it lives as long as the stream."""

    def __init__(self, scope: Scope) -> None:
        super().__init__()
        self.method = "GET"
        self.path = self.path_info = scope.get("path", "")
        self._scheme = scope.get("scheme", "http")
        meta: dict[str, Any] = {"REQUEST_METHOD": "GET", "PATH_INFO": self.path_info}
        client = scope.get("client")
        if client:
            meta["REMOTE_ADDR"] = client[0]
        proxy_header = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
        kept = dict(_KEPT_HEADERS)
        if proxy_header:
            name = proxy_header[0]
            if name.startswith("HTTP_"):
                kept[name[5:].lower().replace("_", "-").encode("latin-1")] = name
        for name, value in scope.get("headers", ()):
            key = kept.get(name.lower())
            if key is None:
                continue
            text = value.decode("latin-1")
            meta[key] = f"{meta[key]}; {text}" if key == "HTTP_COOKIE" and key in meta else text
        self.META = meta
        self.COOKIES = parse_cookie(meta.get("HTTP_COOKIE", ""))
        engine = import_module(settings.SESSION_ENGINE)
        self.session = engine.SessionStore(self.COOKIES.get(settings.SESSION_COOKIE_NAME))

    def _get_scheme(self) -> str:
        return str(self._scheme)


def live_events(app: ASGIApp | None = None) -> ASGIApp:
    """``app`` (default: Django's ASGI application), with the events URL served lean."""
    inner: ASGIApp
    if app is None:
        from django.core.asgi import get_asgi_application

        inner = cast(ASGIApp, get_asgi_application())
    else:
        inner = app
    events_path: list[str] = []

    def is_events(scope: Scope) -> bool:
        if not events_path:
            found = reverse("whatsapp_login:events")
            prefix = get_script_prefix()
            events_path.append("/" + found[len(prefix) :] if found.startswith(prefix) else found)
        path = scope.get("path", "")
        root = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :]
        return bool(path == events_path[0])

    async def application(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and is_events(scope):
            await serve(scope, receive, send)
        else:
            await inner(scope, receive, send)

    application.inner = inner  # type: ignore[attr-defined]
    return application


async def _send_plain(send: Send, response: HttpResponse) -> None:
    headers = [(b"x-content-type-options", b"nosniff")]
    headers += [
        (name.lower().encode("latin-1"), value.encode("latin-1"))
        for name, value in response.items()
    ]
    await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": response.content})


async def serve(scope: Scope, receive: Receive, send: Send) -> None:
    """One request for the events URL: a plain answer, or the stream."""
    from . import events

    refused = events.refusal(scope.get("method", ""))
    if refused is not None:
        await _send_plain(send, refused)
        return
    request = StreamRequest(scope)
    if "django.middleware.locale.LocaleMiddleware" in settings.MIDDLEWARE:
        request.LANGUAGE_CODE = translation.get_language_from_request(request)
    else:
        request.LANGUAGE_CODE = settings.LANGUAGE_CODE
    with translation.override(request.LANGUAGE_CODE):
        opened = await events.open_stream(request, thread_sensitive=False)
    if isinstance(opened, HttpResponse):
        await _send_plain(send, opened)
        return
    headers = [(b"x-content-type-options", b"nosniff")]
    headers += [(name.lower().encode(), value.encode()) for name, value in events.STREAM_HEADERS]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    leave = events.Leave()
    watcher = asyncio.get_running_loop().create_task(_watch(receive, leave))
    try:
        async for chunk in events.stream(request, opened, leave):
            if leave.left:
                break
            await send({"type": "http.response.body", "body": chunk.encode(), "more_body": True})
        if not leave.left:
            await send({"type": "http.response.body", "body": b"", "more_body": False})
    finally:
        watcher.cancel()


async def _watch(receive: Receive, leave: Any) -> None:
    """Until the client goes away (``http.disconnect``); then the stream ends."""
    while True:
        message = await receive()
        if message.get("type") == "http.disconnect":
            leave.set()
            return
