"""The QR code decodes to the exact wa.me link, for many codes, with the fixed mask."""

from __future__ import annotations

import io

import pytest
import segno

from django_whatsapp_login import attempts
from django_whatsapp_login.qr import MASK, qr_svg


def test_svg_is_inline_and_self_contained():
    svg = qr_svg("https://wa.me/996555000001?text=AMT%20LOGIN%20AAAA", title="<scan>")
    assert svg.startswith("<svg") and "viewBox" in svg
    assert "&lt;scan&gt;" in svg and "<scan>" not in svg
    assert "http" not in svg.split("<title>")[0]  # no external reference


@pytest.mark.parametrize("seed", range(4))
def test_many_links_decode(settings, seed):
    # Only this test needs a decoder (both are in the test extra); the SVG test above runs
    # without them.
    zxingcpp = pytest.importorskip("zxingcpp")
    image = pytest.importorskip("PIL.Image")
    settings.WHATSAPP_LOGIN_MESSAGE_PREFIX = ["LOGIN", "AMT LOGIN", "ВХОД", "Log-in 2"][seed]
    for _ in range(50):
        link = attempts.wa_link(attempts.generate_code())
        buffer = io.BytesIO()
        segno.make(link, error="m", micro=False, mask=MASK).save(buffer, kind="png", scale=4)
        buffer.seek(0)
        decoded = [r.text for r in zxingcpp.read_barcodes(image.open(buffer))]
        assert decoded == [link]


def test_the_same_code_is_rendered_once_per_process():
    from unittest import mock

    import segno

    from django_whatsapp_login import qr

    link = "https://wa.me/79990000000?text=LOGIN%20CACHE-TEST-0001"
    with mock.patch.object(segno, "make", wraps=segno.make) as make:
        first = qr.qr_svg(link, title="QR code")
        again = qr.qr_svg(link, title="QR code")
        other_title = qr.qr_svg(link, title="Код")
    assert again == first and "QR code" in first
    assert "Код" in other_title and other_title != first
    assert make.call_count == 2  # once per (code, title)
