"""The doctor's checks of a Green API configuration: the instance, its webhook settings,
LID mode, the quota and the delivery self-test.

:class:`GreenAPIChecks` runs them for :meth:`GreenAPIGateway.checks
<django_whatsapp_login.gateways.greenapi.gateway.GreenAPIGateway.checks>`; each method
checks one concern and says how to fix it. The instance's settings, read once, are kept in
the checkup (``checkup.notes``) for the self-test.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.core.cache import cache
from django.http.request import split_domain_port, validate_host
from django.urls import Resolver404, resolve

from ...conf import app_settings
from ...doctor import FAIL, PASS, SKIP, WARN, Checkup, Result, result
from ...exceptions import WhatsAppLoginImproperlyConfigured
from ...phone import InvalidPhoneNumber, normalize_phone, phone_digits
from ..http import insecure_url_problem, redact
from .client import (
    QUOTA_CACHE_KEY,
    GreenAPIClient,
    GreenAPIError,
    InstanceSettings,
    QuotaExceeded,
    WaSettings,
)
from .gateway import token_is_valid

if TYPE_CHECKING:
    from ...phone_audit import IdentityCoverage

__all__ = [
    "CONSOLE",
    "STATES",
    "GreenAPIChecks",
    "authorization_header",
    "is_webhook_path",
    "self_test",
    "webhook_url_problem",
]

#: Where ``checkup.notes`` keeps the instance's settings (``InstanceSettings`` or ``None``).
REMOTE = "greenapi.remote"

CONSOLE = "https://console.green-api.com"

#: getStateInstance values: (what it means, what to do).
STATES: dict[str | None, tuple[str, str]] = {
    "notAuthorized": (
        "the instance is not authorised: no WhatsApp account is linked to it, so no message "
        "ever reaches it",
        f"open the instance in {CONSOLE}, show its QR code and scan it with WhatsApp on the "
        "business phone (Settings > Linked devices > Link a device)",
    ),
    "blocked": (
        "WhatsApp has banned the account of this instance",
        "appeal from the WhatsApp app on the business phone, or link another number and "
        "update WHATSAPP_LOGIN_BUSINESS_PHONE",
    ),
    "starting": (
        "the instance is starting (after a reboot or a settings change; up to 5 minutes)",
        "wait 5 minutes and run the check again; if it stays 'starting', reboot the instance "
        "in the console",
    ),
    "yellowCard": (
        "WhatsApp has suspended sending from this number for suspected spam",
        "stop sending for a while (turn WHATSAPP_LOGIN_REPLIES off), keep the phone online, "
        "and check again later",
    ),
    "sleepMode": (
        "the instance is in sleep mode: the phone is offline",
        "bring the business phone online (network, battery), then reboot the instance",
    ),
    None: (
        "the instance is still being created (Green API answers null)",
        "wait a few minutes after creating the instance and run the check again",
    ),
}


def authorization_header(token: str) -> str:
    """The ``Authorization`` header Green API sends for a webhookUrlToken value."""
    if token.strip().lower().startswith(("bearer ", "basic ")):
        return token.strip()
    return f"Bearer {token}"


def is_webhook_path(path: str) -> bool:
    from ...webhooks import webhook_view

    try:
        return resolve(path).func is webhook_view
    except Resolver404:
        return False


def webhook_url_problem(url: str) -> str:
    """Why ``url`` cannot be this site's webhook URL, or ``""``."""
    problem = insecure_url_problem(url, "use https (Green API sends the token in a header)")
    if problem:
        return problem
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.query or parts.fragment:
        return f"{url} has a query or fragment; the webhook needs neither"
    domain, _port = split_domain_port(parts.netloc.rsplit("@", 1)[-1])
    allowed = list(settings.ALLOWED_HOSTS)
    if settings.DEBUG and not allowed:
        allowed = [".localhost", "127.0.0.1", "[::1]"]
    if not validate_host(domain, allowed):
        return f"the host {host} is not in ALLOWED_HOSTS, so Django would refuse it"
    if not is_webhook_path(parts.path or "/"):
        return f"the path {parts.path or '/'} is not this site's webhook view"
    return ""


class GreenAPIChecks:
    """One run of the Green API checks; ``client_factory`` builds the client (tests inject
    one)."""

    def __init__(
        self, checkup: Checkup, client_factory: Callable[[], GreenAPIClient] | None = None
    ) -> None:
        self.checkup = checkup
        self.client_factory = client_factory or (
            lambda: GreenAPIClient.from_settings(max_retries=1)
        )
        self.results: list[Result] = []
        self.quota_error: QuotaExceeded | None = None
        self.remote: InstanceSettings | None = None
        # Whether any Green API call got an answer: without one, "no 466 seen" means nothing.
        self.api_answered = False

    @property
    def url(self) -> str | None:
        return self.checkup.url

    @property
    def poll(self) -> bool:
        return self.checkup.poll

    def add(self, id: str, title: str, status: str, detail: str, fix: str = "") -> Result:
        line = result(id, title, status, detail, fix)
        self.results.append(line)
        return line

    def run(self) -> list[Result]:
        api_ready = self.check_settings()
        if api_ready:
            with self.client_factory() as client:
                self.check_api(client)
        else:
            reason = "skipped: the Green API settings are incomplete"
            self.add("instance_state", "Instance state", SKIP, reason)
            self.skip_remote(reason)
        self.check_quota()
        self.checkup.notes[REMOTE] = self.remote
        return self.results

    # --- settings -------------------------------------------------------------------------

    def check_settings(self) -> bool:
        missing = []
        for name, value in (
            ("WHATSAPP_LOGIN_GREEN_API_ID_INSTANCE", app_settings.GREEN_API_ID_INSTANCE),
            ("WHATSAPP_LOGIN_GREEN_API_TOKEN", app_settings.GREEN_API_TOKEN),
        ):
            if not value:
                missing.append(name)
        try:
            tokens = app_settings.WEBHOOK_TOKENS
        except WhatsAppLoginImproperlyConfigured:
            tokens = []
        if not tokens and not self.poll:
            missing.append("WHATSAPP_LOGIN_WEBHOOK_TOKEN")
        try:
            normalize_phone(app_settings.BUSINESS_PHONE)
        except InvalidPhoneNumber:
            missing.append("WHATSAPP_LOGIN_BUSINESS_PHONE")
        if missing:
            self.add(
                "settings",
                "Settings",
                FAIL,
                "missing or invalid: " + ", ".join(missing),
                "set them in settings.py (the id and API token are on the instance's page in "
                f'{CONSOLE}; the webhook token is a random value: python -c "import secrets; '
                'print(secrets.token_urlsafe(32))")',
            )
        else:
            self.add(
                "settings",
                "Settings",
                PASS,
                f"instance {app_settings.GREEN_API_ID_INSTANCE} at {app_settings.GREEN_API_URL}",
            )
        return bool(app_settings.GREEN_API_ID_INSTANCE and app_settings.GREEN_API_TOKEN)

    def _api_failed(self, id_: str, title: str, err: GreenAPIError) -> None:
        if isinstance(err, QuotaExceeded):
            self.quota_error = err
        fix = (
            "check WHATSAPP_LOGIN_GREEN_API_URL (the apiUrl shown in the console), "
            "WHATSAPP_LOGIN_GREEN_API_ID_INSTANCE and WHATSAPP_LOGIN_GREEN_API_TOKEN"
        )
        self.add(id_, title, FAIL, redact(str(err)), fix)

    def skip_remote(self, reason: str) -> None:
        """SKIP every line that needs the instance's settings, saying why."""
        self.add("business_phone", "Business phone", SKIP, reason)
        if self.poll:
            self.add("webhook_url", "Polling mode", SKIP, reason)
        else:
            self.add("webhook_url", "Webhook URL", SKIP, reason)
            self.add("webhook_token", "Webhook token", SKIP, reason)
        self.add("incoming_webhook", "Incoming webhooks", SKIP, reason)
        self.add("lid_mode", "LID mode", SKIP, reason)

    def check_api(self, client: GreenAPIClient) -> None:
        try:
            state = client.get_state_instance()
        except GreenAPIError as err:
            self._api_failed("instance_state", "Instance state", err)
            self.skip_remote("skipped: Green API did not answer getStateInstance (see above)")
            return
        self.api_answered = True
        if state.authorized:
            self.add("instance_state", "Instance state", PASS, "authorized")
        else:
            meaning, fix = STATES.get(
                state.state, (f"unknown state {state.state!r}", "see the Green API console")
            )
            self.add(
                "instance_state", "Instance state", FAIL, f"{state.state or 'null'}: {meaning}", fix
            )
        try:
            self.remote = client.get_settings()
        except GreenAPIError as err:
            self._api_failed("instance_settings", "Instance settings", err)
            self.skip_remote("skipped: Green API did not answer getSettings (see above)")
            return
        wa: WaSettings | None = None
        if state.authorized:
            try:
                wa = client.get_wa_settings()
            except GreenAPIError as err:
                if isinstance(err, QuotaExceeded):
                    self.quota_error = err
        self.check_business_phone(self.remote, wa)
        if self.poll:
            self.check_poll_mode(self.remote)
        else:
            self.check_webhook_url(self.remote)
            self.check_webhook_token(self.remote)
        self.check_incoming(self.remote)
        self.check_lid(self.remote)

    def check_business_phone(self, remote: InstanceSettings, wa: WaSettings | None) -> None:
        title = "Business phone"
        instance_phone = (wa.phone if wa else "") or remote.wid.split("@")[0]
        try:
            ours = phone_digits(app_settings.BUSINESS_PHONE)
        except InvalidPhoneNumber:
            self.add("business_phone", title, SKIP, "WHATSAPP_LOGIN_BUSINESS_PHONE is not set")
            return
        if not instance_phone:
            self.add("business_phone", title, SKIP, "the instance has no WhatsApp number yet")
        elif instance_phone.split(":")[0] != ours:
            self.add(
                "business_phone",
                title,
                FAIL,
                f"the instance is WhatsApp +{instance_phone}, but WHATSAPP_LOGIN_BUSINESS_PHONE "
                f"is +{ours}: users write to a number this instance does not receive, and "
                "deliveries from the instance are ignored",
                f'set WHATSAPP_LOGIN_BUSINESS_PHONE = "+{instance_phone}" (or authorise the '
                "instance with the right phone)",
            )
        else:
            self.add("business_phone", title, PASS, f"+{ours}")

    def check_webhook_url(self, remote: InstanceSettings) -> None:
        title = "Webhook URL"
        setup = (
            "run: manage.py whatsapp_login_setup --webhook-url https://<your host><webhook path>"
        )
        if not remote.webhook_url:
            self.add(
                "webhook_url",
                title,
                FAIL,
                "webhook not configured: Green API has no webhook URL, so incoming messages are "
                "never delivered to this site",
                setup + " (or, without a public URL, run manage.py whatsapp_login_poll and "
                "check with --poll)",
            )
            return
        if self.url:
            if remote.webhook_url != self.url:
                self.add(
                    "webhook_url",
                    title,
                    FAIL,
                    f"wrong webhook URL: Green API sends to {remote.webhook_url}, but this site "
                    f"receives at {self.url}",
                    f"run: manage.py whatsapp_login_setup --webhook-url {self.url}",
                )
                return
        problem = webhook_url_problem(remote.webhook_url)
        if problem:
            self.add(
                "webhook_url",
                title,
                FAIL,
                f"wrong webhook URL {remote.webhook_url}: {problem}",
                setup,
            )
        else:
            self.add("webhook_url", title, PASS, remote.webhook_url)

    def check_webhook_token(self, remote: InstanceSettings) -> None:
        title = "Webhook token"
        fix = (
            "run manage.py whatsapp_login_setup --webhook-url <url> (it sets the token from "
            "WHATSAPP_LOGIN_WEBHOOK_TOKEN), or paste the same value into the console"
        )
        try:
            tokens = app_settings.WEBHOOK_TOKENS
        except WhatsAppLoginImproperlyConfigured:
            tokens = []
        if not remote.webhook_url_token:
            self.add(
                "webhook_token",
                title,
                FAIL,
                "webhook token not set in Green API: deliveries carry no Authorization header "
                "and the webhook refuses every one of them (401)",
                fix,
            )
        elif not tokens:
            self.add(
                "webhook_token",
                title,
                FAIL,
                "WHATSAPP_LOGIN_WEBHOOK_TOKEN is empty: the webhook refuses everything",
                fix,
            )
        elif not token_is_valid(authorization_header(remote.webhook_url_token), tokens):
            self.add(
                "webhook_token",
                title,
                FAIL,
                "wrong webhook token: the token in Green API differs from "
                "WHATSAPP_LOGIN_WEBHOOK_TOKEN, so every delivery gets 401",
                fix,
            )
        elif not token_is_valid(authorization_header(remote.webhook_url_token), tokens[:1]):
            self.add(
                "webhook_token",
                title,
                WARN,
                "Green API uses an older token from WHATSAPP_LOGIN_WEBHOOK_TOKEN",
                fix,
            )
        else:
            self.add("webhook_token", title, PASS, "matches WHATSAPP_LOGIN_WEBHOOK_TOKEN")

    def check_poll_mode(self, remote: InstanceSettings) -> None:
        if remote.webhook_url:
            self.add(
                "webhook_url",
                "Polling mode",
                FAIL,
                f"a webhook URL is set ({remote.webhook_url}): Green API refuses polling then",
                "run: manage.py whatsapp_login_setup --poll",
            )
        else:
            self.add(
                "webhook_url",
                "Polling mode",
                PASS,
                "no webhook URL; run manage.py whatsapp_login_poll to receive messages",
            )

    def check_incoming(self, remote: InstanceSettings) -> None:
        title = "Incoming webhooks"
        if remote.incoming_webhook:
            self.add("incoming_webhook", title, PASS, "incomingWebhook is on")
        else:
            self.add(
                "incoming_webhook",
                title,
                FAIL,
                "incomingWebhook is off: the message is never sent to this site, so no login "
                "is ever confirmed",
                "run manage.py whatsapp_login_setup (it turns incomingWebhook on), or enable "
                "'Receive webhooks on incoming messages' in the console",
            )

    def lid_coverage(self) -> tuple[IdentityCoverage | None, str]:
        """How many users who can log in have a known LID; ``(None, why)`` if uncountable."""
        from django.db import DatabaseError

        from ...phone_audit import identity_coverage

        try:
            return identity_coverage(), ""
        except WhatsAppLoginImproperlyConfigured as err:
            return None, str(err)
        except DatabaseError as err:
            return None, f"the database cannot be read ({type(err).__name__})"

    def check_lid(self, remote: InstanceSettings) -> None:
        title = "LID mode"
        coverage, why = self.lid_coverage()
        if coverage is None:
            known = f"how many users have a known LID cannot be counted: {why}"
        else:
            known = (
                f"{coverage.reachable_with_lid} of {coverage.reachable} users who can log in "
                "have a known LID"
            )
        lookup = (
            "run manage.py whatsapp_login_lookup_lids (it asks Green API for the LID of every "
            "user who can log in and stores it)"
        )
        if not remote.enable_lid_mode:
            state = "off" if remote.enable_lid_mode is False else "not reported by this instance"
            self.add("lid_mode", title, PASS, f"enableLidMode is {state}; {known}")
            return
        senders = (
            "enableLidMode is on: senders arrive as @lid ids that carry no phone number, so "
            "only users whose LID is known are recognised at once"
        )
        if coverage is not None and coverage.complete:
            self.add("lid_mode", title, PASS, f"enableLidMode is on; {known}")
        elif coverage is not None and coverage.reachable_with_lid == 0:
            self.add(
                "lid_mode",
                title,
                FAIL,
                f"{senders}, and none is: {known}",
                lookup + ", or turn LID mode off: manage.py whatsapp_login_setup --webhook-url "
                "<url> --lid-mode off",
            )
        else:
            missing = f" ({coverage.missing} without)" if coverage is not None else ""
            self.add(
                "lid_mode",
                title,
                WARN,
                f"{senders}: {known}{missing}; the others must link WhatsApp on the link "
                "page or confirm their phone number on the login page",
                lookup,
            )

    def check_quota(self) -> None:
        title = "Quota"
        fix = (
            "the Developer plan allows messages with 3 chats a month; move the instance to a "
            "paid plan in the console"
        )
        if self.quota_error is not None:
            self.add(
                "quota",
                title,
                FAIL,
                f"quota exceeded (HTTP 466): {self.quota_error.detail or 'no details'}",
                fix,
            )
            return
        seen = cache.get(QUOTA_CACHE_KEY)
        if isinstance(seen, dict):
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(seen.get("at", 0)))
            self.add(
                "quota",
                title,
                WARN,
                f"Green API answered 466 (quota exceeded) to {seen.get('method')} at {when}",
                fix,
            )
            return
        if not self.api_answered:
            self.add(
                "quota",
                title,
                SKIP,
                "unknown: no Green API call succeeded, so nothing says whether the quota is "
                "exceeded",
            )
            return
        self.add("quota", title, PASS, "Green API answered, and no 466 answer seen")

    # --- users --------------------------------------------------------------------------------


# --- the delivery self-test ----------------------------------------------------------------


def self_test(checkup: Checkup) -> list[Result]:
    """POST an authenticated test delivery to the webhook URL (``checkup.url``, else the one
    the instance reports): it must answer 200, and refuse the same delivery without the
    token."""
    return [_delivery(checkup)]


def _delivery(checkup: Checkup) -> Result:
    title = "Test delivery"
    remote: InstanceSettings | None = checkup.notes.get(REMOTE)
    url = checkup.url or (remote.webhook_url if remote else "")
    if not url:
        return result("self_test", title, FAIL, "no webhook URL to test", "pass --url")
    try:
        tokens = app_settings.WEBHOOK_TOKENS
    except WhatsAppLoginImproperlyConfigured:
        tokens = []
    token = (remote.webhook_url_token if remote else "") or (tokens[:1] or [""])[0]
    body = {
        "typeWebhook": "whatsappLoginSelfTest",
        "instanceData": {
            "idInstance": app_settings.GREEN_API_ID_INSTANCE,
            "typeInstance": "whatsapp",
        },
        "timestamp": int(time.time()),
    }
    fix = (
        "make the URL reachable from the internet over https, route it to "
        "django_whatsapp_login's webhook view, and check proxies that strip the "
        "Authorization header"
    )
    try:
        with requests.Session() as session:
            answer = session.post(
                url,
                json=body,
                timeout=10,
                allow_redirects=False,
                headers={"Authorization": authorization_header(token)},
            )
            anonymous = session.post(url, json=body, timeout=10, allow_redirects=False)
    except requests.RequestException as err:
        return result(
            "self_test",
            title,
            FAIL,
            f"webhook not working: {url} cannot be reached ({type(err).__name__})",
            fix,
        )
    if answer.status_code != 200:
        return result(
            "self_test",
            title,
            FAIL,
            f"webhook not working: an authenticated test delivery to {url} got HTTP "
            f"{answer.status_code}, not 200",
            fix,
        )
    if anonymous.status_code == 200:
        return result(
            "self_test",
            title,
            FAIL,
            f"{url} answers 200 without a token: it is not this app's webhook, or a "
            "proxy answers for it",
            fix,
        )
    return result(
        "self_test",
        title,
        PASS,
        f"{url} answered 200 (and {anonymous.status_code} without the token)",
    )
