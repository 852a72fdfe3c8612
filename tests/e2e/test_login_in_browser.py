"""The login flow in a real Chromium against the example project under gunicorn.

Every message "arrives from WhatsApp" as a real HTTP POST of a Green API-shaped
delivery to the project's webhook URL, authenticated by the webhook token. Screenshots
go to test-artifacts/.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from tests.conftest import incoming

from .conftest import BUSINESS_PHONE, SHORT_TTL, TENANTS, UNREGISTERED, Site, shot

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
STATUS = "[data-wl-status]"


def chat_id(phone: str) -> str:
    return phone.lstrip("+") + "@c.us"


def page_message(page: Any) -> str:
    return page.inner_text("[data-wl-message]").strip()


def page_link(page: Any) -> str:
    return page.get_attribute("[data-wl-link]", "href")


def expected_link(message: str) -> str:
    return f"https://wa.me/{BUSINESS_PHONE.lstrip('+')}?text={quote(message, safe='')}"


def decode_qr(path: Any) -> list[str]:
    import zxingcpp
    from PIL import Image

    with Image.open(path) as image:
        return [result.text for result in zxingcpp.read_barcodes(image)]


def wait_for_status(page: Any, text: str, timeout: float = 15_000) -> None:
    page.wait_for_function(
        "text => document.querySelector('[data-wl-status]').textContent.includes(text)",
        arg=text,
        timeout=timeout,
    )


def send(site: Site, message: str, phone: str) -> dict[str, Any]:
    status, body = site.webhook(incoming(message, sender=chat_id(phone)))
    assert status == 200, (status, body)
    return body


def open_login(context: Any, site: Site) -> Any:
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.wl_errors = errors  # checked by assert_logged_in
    page.goto(site.url + "/login")
    page.wait_for_selector(".wl-widget.wl-js")  # the script is loaded and running
    return page


def assert_logged_in(page: Any, site: Site, tenant: str, timeout: float = 10_000) -> None:
    page.wait_for_url(site.url + "/", timeout=timeout)
    name = TENANTS[tenant][0]
    assert page.inner_text("h1") == f"Hello, {name}!"
    assert not getattr(page, "wl_errors", [])


def test_desktop_qr_matches_and_the_page_logs_in_by_itself(chromium, site, timings):
    context = chromium.new_context(viewport=DESKTOP)
    try:
        page = open_login(context, site)
        assert "Waiting for your message" in page.inner_text(STATUS)
        message, link = page_message(page), page_link(page)
        assert link == expected_link(message)
        assert parse_qs(urlsplit(link).query)["text"] == [message]

        decoded = decode_qr(shot(page, "desktop-login"))
        assert decoded == [link], "the QR code in the screenshot is not the page's link"

        sent = time.perf_counter()
        assert send(site, message, TENANTS["desktop"][1])["status"] == "confirmed"
        page.wait_for_url(site.url + "/", wait_until="commit", timeout=10_000)
        timings["desktop_delivery_to_arrival_s"] = round(time.perf_counter() - sent, 3)
        assert_logged_in(page, site, "desktop")
        shot(page, "desktop-home")
    finally:
        context.close()


def test_phone_viewport_button_carries_the_same_link(chromium, site):
    context = chromium.new_context(
        viewport=PHONE, is_mobile=True, has_touch=True, device_scale_factor=2
    )
    try:
        page = open_login(context, site)
        message, link = page_message(page), page_link(page)
        button = page.get_by_role("link", name="Open WhatsApp")
        assert button.is_visible()
        box = button.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
        assert button.get_attribute("href") == link == expected_link(message)
        assert decode_qr(shot(page, "phone-login")) == [link]

        assert send(site, message, TENANTS["phone"][1])["status"] == "confirmed"
        assert_logged_in(page, site, "phone")
    finally:
        context.close()


def test_expired_code_offers_a_new_code_that_works(chromium, short_ttl_site):
    site = short_ttl_site
    context = chromium.new_context(viewport=DESKTOP)
    try:
        page = open_login(context, site)
        old_message = page_message(page)
        wait_for_status(page, "expired", timeout=(SHORT_TTL + 8) * 1000)
        new_code = page.get_by_role("button", name="Get a new code")
        assert new_code.is_visible()
        shot(page, "expired")

        # The old code does nothing any more.
        assert send(site, old_message, TENANTS["expiry"][1])["status"] == "ignored"

        new_code.click()
        wait_for_status(page, "Waiting for your message")
        message, link = page_message(page), page_link(page)
        assert message != old_message
        assert link == expected_link(message)
        assert decode_qr(shot(page, "new-code")) == [link]

        assert send(site, message, TENANTS["expiry"][1])["status"] == "confirmed"
        assert_logged_in(page, site, "expiry")
    finally:
        context.close()


def test_unregistered_number_is_told_so(chromium, site):
    context = chromium.new_context(viewport=DESKTOP)
    try:
        page = open_login(context, site)
        body = send(site, page_message(page), UNREGISTERED)
        assert body == {"status": "rejected", "reason": "unknown_number"}
        wait_for_status(page, "not registered")
        assert page.get_by_role("button", name="Get a new code").is_visible()
        shot(page, "unregistered")
        assert page.url == site.url + "/login"
    finally:
        context.close()


def test_without_javascript_the_fallback_form_completes_the_login(chromium, site):
    context = chromium.new_context(viewport=DESKTOP, java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(site.url + "/login")
        message = page_message(page)
        assert page_link(page) == expected_link(message)
        assert decode_qr(shot(page, "nojs-login")) == [page_link(page)]
        proceed = page.get_by_role("button", name="I have sent the message: continue")

        # Pressing it before the message arrives changes nothing.
        proceed.click()
        page.wait_for_load_state()
        assert page.url == site.url + "/login"
        assert "Waiting for your message" in page.inner_text(STATUS)
        assert page_message(page) == message  # the same attempt, not a new one

        assert send(site, message, TENANTS["nojs"][1])["status"] == "confirmed"
        page.get_by_role("button", name="I have sent the message: continue").click()
        assert_logged_in(page, site, "nojs")
        shot(page, "nojs-home")
    finally:
        context.close()


def test_two_browsers_only_the_creator_is_logged_in(chromium, site):
    first = chromium.new_context(viewport=DESKTOP)
    second = chromium.new_context(viewport=DESKTOP)
    try:
        page = open_login(first, site)
        other = open_login(second, site)
        message = page_message(page)
        assert page_message(other) != message

        # The second browser opens the first one's WhatsApp link (it has the code).
        assert send(site, message, TENANTS["two"][1])["status"] == "confirmed"
        assert_logged_in(page, site, "two")

        # The second browser is still waiting on its own code and is not logged in.
        other.wait_for_timeout(1500)  # more than one poll interval
        assert other.url == site.url + "/login"
        assert "Waiting for your message" in other.inner_text(STATUS)
        answer = other.evaluate(
            """async () => {
                const token = document.querySelector('input[name=csrfmiddlewaretoken]').value;
                const r = await fetch('/whatsapp/complete/', {method: 'POST',
                    headers: {'X-CSRFToken': token, 'Accept': 'application/json'}});
                return r.status;
            }"""
        )
        assert answer == 409  # its own attempt, still pending
        other.goto(site.url + "/")
        assert other.url.startswith(site.url + "/login?next=")
        shot(other, "second-browser")
    finally:
        first.close()
        second.close()


def test_link_page_links_a_lid_and_unlinks_it(chromium, site):
    """Logged in, the user opens the link page, sends its code from WhatsApp (a phone chatId
    with a LID sender), and the page turns to "linked" by itself and lists both ids."""
    lid = "120650379300106@lid"
    context = chromium.new_context(viewport={"width": 1280, "height": 800})
    try:
        page = open_login(context, site)
        assert send(site, page_message(page), TENANTS["link"][1])["status"] == "confirmed"
        assert_logged_in(page, site, "link")

        page.goto(site.url + "/whatsapp/link/")
        page.wait_for_selector(".wl-widget.wl-js")
        assert page.inner_text("h1") == "Link WhatsApp"
        assert "No WhatsApp account is linked" in page.inner_text(".wl-identities")
        message, link = page_message(page), page_link(page)
        assert link == expected_link(message)
        assert decode_qr(shot(page, "desktop-link")) == [link]
        assert page.get_attribute("[data-wl-new-form]", "action") == "/whatsapp/link/start/"
        phone_page = context.new_page()  # the same session: the same code, at a phone's size
        phone_page.set_viewport_size(PHONE)
        phone_page.goto(site.url + "/whatsapp/link/")
        assert page_message(phone_page) == message
        shot(phone_page, "phone-link")
        phone_page.close()

        body = incoming(message, sender=lid)
        body["senderData"]["chatId"] = chat_id(TENANTS["link"][1])
        assert site.webhook(body) == (200, {"status": "linked"})
        page.wait_for_selector("text=WhatsApp is now linked to your account.", timeout=10_000)
        rows = page.locator(".wl-identity")
        assert rows.count() == 2
        listed = page.inner_text(".wl-identities")
        assert "•••0106@lid" in listed and "+996•••006" in listed
        assert TENANTS["link"][1] not in page.content()
        shot(page, "desktop-linked")

        phone_page = context.new_page()
        phone_page.set_viewport_size(PHONE)
        phone_page.goto(site.url + "/whatsapp/link/")
        assert "WhatsApp is now linked" in phone_page.inner_text(".wl-widget")
        shot(phone_page, "phone-linked")
        phone_page.close()

        page.locator(".wl-identity", has_text="@lid").get_by_role("button", name="Unlink").click()
        page.wait_for_selector("text=was unlinked from your account.")
        assert "•••0106@lid was unlinked" in page.inner_text(".wl-flash")
        assert page.locator(".wl-identity").count() == 1
        assert not page.wl_errors
    finally:
        context.close()


def test_link_page_sends_anonymous_visitors_to_the_login_page(chromium, site):
    context = chromium.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    try:
        page = context.new_page()
        page.goto(site.url + "/whatsapp/link/")
        assert page.url == site.url + "/login?next=/whatsapp/link/"
    finally:
        context.close()
