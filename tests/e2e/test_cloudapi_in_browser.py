"""The login flow in Chromium with the example project on Meta's Cloud API (issue 12).

The server runs with ``WHATSAPP_LOGIN_GATEWAY = "cloudapi"`` against the fake Graph API on
127.0.0.1; deliveries are signed with the app secret (``X-Hub-Signature-256``) and POSTed over
HTTP to the project's webhook URL, as Meta would.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

from tests import fake_cloudapi as fake

from .conftest import TENANTS, Site, shot
from .test_login_in_browser import (
    DESKTOP,
    assert_logged_in,
    open_login,
    page_message,
    wait_for_status,
)

PHONE = TENANTS["cloud"][1]
WA_ID = PHONE.lstrip("+")


def deliver(site: Site, payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    body = json.dumps(payload).encode()
    request = urllib.request.Request(  # noqa: S310
        site.url + "/api/webhooks/greenapi/incoming/",
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "X-Hub-Signature-256": fake.sign(body, fake.APP_SECRET),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as err:
        return err.code, {}


def message(kind: str, **content: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "from": WA_ID,
        "id": f"wamid.E2E{time.monotonic_ns()}",
        "timestamp": str(int(time.time())),
        "type": kind,
        **content,
    }
    contact = {"profile": {"name": "Cloud Tenant"}, "wa_id": WA_ID}
    return fake.envelope({"contacts": [contact], "messages": [item]})


def test_cloud_api_login_question_buttons_yes_and_notice(chromium, cloud_site: Site, cloud_api):
    context = chromium.new_context(viewport=DESKTOP)
    try:
        page = open_login(context, cloud_site)
        status, body = deliver(cloud_site, message("text", text={"body": page_message(page)}))
        assert (status, body) == (200, {"status": "awaiting_confirmation"})
        wait_for_status(page, "Check WhatsApp and answer YES")
        [question] = [m for m in cloud_api.sent if m.get("type") == "interactive"]
        assert question["to"] == WA_ID
        buttons = question["interactive"]["action"]["buttons"]
        yes = next(b["reply"] for b in buttons if b["reply"]["title"] == "YES")
        shot(page, "cloudapi-awaiting")
        reply = {"type": "button_reply", "button_reply": {"id": yes["id"], "title": yes["title"]}}
        status, body = deliver(cloud_site, message("interactive", interactive=reply))
        assert status == 200 and body["status"] == "confirmed"
        assert_logged_in(page, cloud_site, "cloud")
        assert any("Not you?" in m.get("text", {}).get("body", "") for m in cloud_api.sent)
        # A forged delivery (no signature) is refused before it is read.
        request = urllib.request.Request(  # noqa: S310
            cloud_site.url + "/api/webhooks/greenapi/incoming/", data=b"{}", method="POST"
        )
        try:
            urllib.request.urlopen(request, timeout=10)  # noqa: S310
            raise AssertionError("an unsigned delivery was accepted")
        except urllib.error.HTTPError as err:
            assert err.code == 401
    finally:
        context.close()


def test_the_sandbox_under_the_cloud_api(chromium, cloud_sandbox_site: Site):
    context = chromium.new_context(viewport=DESKTOP)
    try:
        page = open_login(context, cloud_sandbox_site)
        page.fill("[data-wl-sandbox] input[name=phone]", TENANTS["cloud_sandbox"][1])
        page.click("[data-wl-sandbox] button[type=submit]")
        page.wait_for_selector("[data-wl-sandbox-question]", state="visible")
        wait_for_status(page, "Check WhatsApp and answer YES")
        assert "Reply *YES* to log in" in page.inner_text("[data-wl-sandbox-text]")
        shot(page, "cloudapi-sandbox-question")
        page.click("text=Answer YES")
        assert_logged_in(page, cloud_sandbox_site, "cloud_sandbox")
    finally:
        context.close()
