from __future__ import annotations

import functools
import re
from collections.abc import Sequence

import segno
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

#: The QR mask pattern used for every code (see qr_svg).
MASK = 4
#: How many rendered codes each process keeps (about 2 KB each): a page reload, a second
#: tab or ``start`` answering with the live attempt shows the same code again.
CACHE_SIZE = 256
#: The quiet zone around the symbol, in modules (the QR specification asks for 4).
BORDER = 4

_DARK_RUN = re.compile(rb"\x01+")


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
    # encoding time, and every mask decodes; the error correction level M keeps the code
    # robust on screens. segno encodes; the SVG is written here from its matrix.
    code = segno.make(data, error="m", micro=False, mask=MASK)
    return svg_from_matrix(code.matrix, title=title)


def svg_from_matrix(matrix: Sequence[bytes | bytearray], *, title: str = "") -> SafeString:
    """The SVG of a QR matrix (rows of 0/1 bytes), one module per user unit, a white
    background and one path of horizontal dark runs, the quiet zone included.

    The same markup as segno's ``svg_inline(scale=1, border=4, dark="#000", light="#fff",
    omitsize=True, svgclass="whatsapp-login-qr")`` (tests/test_qr.py compares them), in
    about a tenth of its time: the login page renders a new code on every first visit.
    """
    size = len(matrix) + 2 * BORDER
    parts: list[str] = []
    x0 = y0 = 0  # the pen, after the previous run
    first = True
    for row_number, row in enumerate(matrix):
        y = row_number + BORDER
        for run in _DARK_RUN.finditer(bytes(row)):
            x = run.start() + BORDER
            length = run.end() - run.start()
            if first:
                parts.append(f"M{x} {y}.5h{length}")
                first = False
            else:
                parts.append(f"m{x - x0} {y - y0}h{length}")
            x0, y0 = x + length, y
    title_tag = f"<title>{escape(title)}</title>" if title else ""
    # Generated markup; the only text in it, the title, is escaped above.
    return mark_safe(  # noqa: S308
        f'<svg viewBox="0 0 {size} {size}" class="whatsapp-login-qr">{title_tag}'
        f'<path fill="#fff" d="M0 0h{size}v{size}h-{size}z"/>'
        f'<path class="qrline" stroke="#000" d="{"".join(parts)}"/></svg>'
    )
