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


def test_svg_writer_draws_the_same_modules_as_segnos():
    # The SVG is written from segno's matrix (qr.svg_from_matrix): for many codes it is
    # exactly segno's own inline SVG with the same options, so it decodes the same.
    from django_whatsapp_login import qr

    for _ in range(100):
        link = attempts.wa_link(attempts.generate_code())
        code = segno.make(link, error="m", micro=False, mask=MASK)
        expected = code.svg_inline(
            scale=1,
            border=4,
            dark="#000",
            light="#fff",
            omitsize=True,
            svgclass="whatsapp-login-qr",
            title="Scan <this> & log in",
        )
        assert qr.svg_from_matrix(code.matrix, title="Scan <this> & log in") == expected
        assert qr.qr_svg(link, title="Scan <this> & log in") == expected


def test_svg_writer_escapes_the_title_and_omits_an_empty_one():
    from django_whatsapp_login import qr

    matrix = [bytearray([1, 0, 1]), bytearray([0, 0, 0]), bytearray([1, 1, 0])]
    svg = qr.svg_from_matrix(matrix, title='"><script>')
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    assert svg.endswith('d="M4 4.5h1m1 0h1m-3 2h2"/></svg>')
    assert "<title>" not in qr.svg_from_matrix(matrix)
