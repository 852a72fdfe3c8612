from __future__ import annotations

import functools

import segno
from django.utils.safestring import SafeString, mark_safe

#: The QR mask pattern used for every code (see qr_svg).
MASK = 4
#: How many rendered codes each process keeps (about 2 KB each): a page reload, a second
#: tab or ``start`` answering with the live attempt shows the same code again.
CACHE_SIZE = 256


def qr_svg(data: str, *, title: str = "") -> SafeString:
    """An inline ``<svg>`` QR code of ``data`` (no image request, no CDN).

    The SVG has a viewBox and no fixed size, so CSS decides how large it is. The same
    ``data`` and ``title`` render once per process (a small LRU cache, see CACHE_SIZE):
    the benchmark's ``qr`` figure measures what that saves.
    """
    return _render(data, str(title or ""))


@functools.lru_cache(maxsize=CACHE_SIZE)
def _render(data: str, title: str) -> SafeString:
    # A fixed mask pattern: choosing the "best" of the eight costs about two thirds of the
    # render time (the login page's largest CPU cost in the benchmark), and every mask
    # decodes; the error correction level M keeps the code robust on screens.
    code = segno.make(data, error="m", micro=False, mask=MASK)
    svg = code.svg_inline(
        scale=1,
        border=4,
        dark="#000",
        light="#fff",
        omitsize=True,
        svgclass="whatsapp-login-qr",
        title=title or None,
    )
    # segno escapes the title; the rest is generated markup.
    return mark_safe(svg)  # noqa: S308
