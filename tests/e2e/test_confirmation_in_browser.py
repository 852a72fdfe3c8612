"""Confirmation in WhatsApp in a real Chromium (issue 10, part B).

The example project under gunicorn with the fake Green API on 127.0.0.1 configured, so the
site really sends the YES/NO question (and the login notice) over HTTP; the answers arrive as
real webhook POSTs.
"""

from __future__ import annotations

from typing import Any

from .conftest import TENANTS, Site, shot
from .test_login_in_browser import (
    DESKTOP,
    PHONE,
    STATUS,
    assert_logged_in,
    chat_id,
    open_login,
    page_message,
    send,
    wait_for_status,
)

ATTACKER_UA = "Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0"


def questions_to(fake: Any, phone: str) -> list[str]:
    return [
        m["message"] for m in fake.sent if m["chatId"] == chat_id(phone) and "*YES*" in m["message"]
    ]


def test_a_relayed_code_waits_for_yes_and_no_keeps_the_attacker_out(
    chromium, confirming_site: Site, green_api
):
    victim = TENANTS["victim"][1]
    attacker = chromium.new_context(viewport=DESKTOP, user_agent=ATTACKER_UA)
    try:
        page = open_login(attacker, confirming_site)
        # The victim sends the code the attacker's page shows ...
        assert (
            send(confirming_site, page_message(page), victim)["status"] == "awaiting_confirmation"
        )
        wait_for_status(page, "Check WhatsApp and answer YES")
        shot(page, "confirmation-awaiting")
        # ... and is asked, in WhatsApp, about the attacker's browser.
        [question] = questions_to(green_api, victim)
        assert "Firefox on Linux" in question and "*NO*" in question
        assert send(confirming_site, "NO", victim) == {"status": "rejected", "reason": "declined"}
        wait_for_status(page, "You answered NO")
        assert page.url.endswith("/login")
        assert page.is_visible("[data-wl-new]")  # "Get a new code" is offered
    finally:
        attacker.close()


def test_yes_logs_in_and_the_same_browser_is_not_asked_again(
    chromium, confirming_site: Site, green_api
):
    phone = TENANTS["careful"][1]
    context = chromium.new_context(viewport=DESKTOP)
    try:
        page = open_login(context, confirming_site)
        assert send(confirming_site, page_message(page), phone)["status"] == "awaiting_confirmation"
        wait_for_status(page, "Check WhatsApp and answer YES")
        assert len(questions_to(green_api, phone)) == 1
        assert send(confirming_site, "YES", phone) == {"status": "confirmed", "reason": "approved"}
        assert_logged_in(page, confirming_site, "careful")
        assert "Not you? Reply NO" in green_api.sent[-1]["message"]  # the login notice
        # Log out, log in again from this browser: a known device, no question.
        page.goto(confirming_site.url + "/")
        page.click("form[action='/logout'] button")
        page.wait_for_load_state()
        page.close()  # one tab: two tabs of one session share its attempt
        page = open_login(context, confirming_site)
        assert send(confirming_site, page_message(page), phone)["status"] == "confirmed"
        assert_logged_in(page, confirming_site, "careful")
        assert len(questions_to(green_api, phone)) == 1
        assert "Check WhatsApp" not in page.content()
    finally:
        context.close()


def test_the_sandbox_shows_the_question_and_answers_it(chromium, sandbox_site: Site):
    context = chromium.new_context(viewport=DESKTOP)
    try:
        page = open_login(context, sandbox_site)
        assert page.is_hidden("[data-wl-sandbox-question]")
        page.fill("[data-wl-sandbox] input[name=phone]", TENANTS["sandbox"][1])
        page.click("[data-wl-sandbox] button[type=submit]")
        page.wait_for_selector("[data-wl-sandbox-question]", state="visible")
        wait_for_status(page, "Check WhatsApp and answer YES")
        question = page.inner_text("[data-wl-sandbox-text]")
        assert "Reply *YES* to log in, or *NO* to refuse" in question
        shot(page, "sandbox-question")
        page.click("text=Answer YES")
        assert_logged_in(page, sandbox_site, "sandbox")
    finally:
        context.close()


def fits_the_phone(page: Any, selector: str) -> None:
    """``selector`` is on screen without scrolling sideways, and the page does not overflow."""
    box = page.locator(selector).bounding_box()
    assert box is not None, f"{selector} is not rendered"
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], box
    assert box["y"] + box["height"] <= PHONE["height"], f"{selector} is below the fold: {box}"
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page scrolls sideways by {overflow}px"


def test_on_a_phone_the_waiting_and_refused_states_are_readable_without_scrolling(
    chromium, confirming_site: Site, green_api
):
    """The person who is asked is on a phone: the "answer YES" state and the "refused" state
    with its "Get a new code" button fit a phone screen (the PNGs are kept as artifacts)."""
    victim = TENANTS["victim"][1]
    context = chromium.new_context(
        viewport=PHONE,
        is_mobile=True,
        has_touch=True,
        device_scale_factor=2,
        user_agent=ATTACKER_UA,
    )
    try:
        page = open_login(context, confirming_site)
        fits_the_phone(page, "a[data-wl-link]")
        assert send(confirming_site, page_message(page), victim)["status"] == (
            "awaiting_confirmation"
        )
        wait_for_status(page, "Check WhatsApp and answer YES")
        fits_the_phone(page, STATUS)
        shot(page, "phone-confirmation-awaiting")
        assert send(confirming_site, "NO", victim)["reason"] == "declined"
        wait_for_status(page, "You answered NO")
        fits_the_phone(page, STATUS)
        fits_the_phone(page, "[data-wl-new]")
        shot(page, "phone-confirmation-refused")
    finally:
        context.close()
