"""The doctor's checks of a Cloud API configuration, one concern each: the settings, the
webhook secrets, the access token, the business number and the app's webhook subscription."""

from __future__ import annotations

from collections.abc import Callable

from ...conf import app_settings
from ...doctor import FAIL, PASS, SKIP, WARN, Result, result
from ...exceptions import WhatsAppLoginImproperlyConfigured
from ...phone import InvalidPhoneNumber, mask_phone, phone_digits
from .client import CloudAPIAuthError, CloudAPIClient, CloudAPIError, PhoneNumberInfo

__all__ = [
    "DASHBOARD",
    "check_phone_number",
    "check_secrets",
    "check_settings",
    "check_subscription",
    "check_token",
    "run_checks",
]

DASHBOARD = "https://developers.facebook.com/apps"


def check_settings() -> Result:
    """The settings needed to call the Graph API are set, and the URL is safe for a token."""
    title = "Cloud API settings"
    missing = [
        name
        for name, value in (
            ("WHATSAPP_LOGIN_CLOUD_API_ACCESS_TOKEN", app_settings.CLOUD_API_ACCESS_TOKEN),
            ("WHATSAPP_LOGIN_CLOUD_API_PHONE_NUMBER_ID", app_settings.CLOUD_API_PHONE_NUMBER_ID),
        )
        if not value
    ]
    if missing:
        return result(
            "cloudapi_settings",
            title,
            FAIL,
            "missing: " + ", ".join(missing),
            f"in {DASHBOARD} > your app > WhatsApp > API Setup, copy the phone number id; "
            "create a permanent token for a system user in Business Settings > System users",
        )
    problem = CloudAPIClient.url_problem(app_settings.CLOUD_API_URL)
    if problem:
        return result(
            "cloudapi_settings",
            title,
            FAIL,
            problem,
            "set WHATSAPP_LOGIN_CLOUD_API_URL to https://graph.facebook.com (or remove it)",
        )
    return result(
        "cloudapi_settings",
        title,
        PASS,
        f"phone number id {app_settings.CLOUD_API_PHONE_NUMBER_ID}, Graph API "
        f"{app_settings.CLOUD_API_API_VERSION}",
    )


def check_secrets() -> Result:
    """The webhook can authenticate Meta: an app secret and a verify token are set."""
    title = "Webhook secrets"
    try:
        secrets = app_settings.CLOUD_API_APP_SECRETS
        tokens = app_settings.CLOUD_API_VERIFY_TOKENS
    except WhatsAppLoginImproperlyConfigured as err:
        return result("cloudapi_secrets", title, FAIL, str(err), "use a string or a list")
    missing = []
    if not secrets:
        missing.append("WHATSAPP_LOGIN_CLOUD_API_APP_SECRET (without it every delivery gets 401)")
    if not tokens:
        missing.append(
            "WHATSAPP_LOGIN_CLOUD_API_VERIFY_TOKEN (without it Meta cannot verify the "
            "webhook URL: 403)"
        )
    if missing:
        return result(
            "cloudapi_secrets",
            title,
            FAIL,
            "missing: " + "; ".join(missing),
            f"the app secret is in {DASHBOARD} > your app > App settings > Basic; the verify "
            'token is any random value: python -c "import secrets; '
            'print(secrets.token_urlsafe(32))", entered in WhatsApp > Configuration too',
        )
    return result(
        "cloudapi_secrets",
        title,
        PASS,
        f"{len(secrets)} app secret(s), {len(tokens)} verify token(s)",
    )


def check_token(client: CloudAPIClient) -> tuple[Result, PhoneNumberInfo | None]:
    """The access token works: Meta answers for the phone number id with it."""
    title = "Cloud API access token"
    try:
        info = client.phone_number()
    except CloudAPIAuthError as err:
        return (
            result(
                "cloudapi_token",
                title,
                FAIL,
                f"the access token is refused: {err}",
                "create a permanent token for a system user (Business Settings > System "
                "users > Generate new token, with whatsapp_business_messaging and "
                "whatsapp_business_management) and set WHATSAPP_LOGIN_CLOUD_API_ACCESS_TOKEN",
            ),
            None,
        )
    except CloudAPIError as err:
        return (
            result(
                "cloudapi_token",
                title,
                FAIL,
                str(err),
                "check WHATSAPP_LOGIN_CLOUD_API_PHONE_NUMBER_ID (WhatsApp > API Setup) and "
                "WHATSAPP_LOGIN_CLOUD_API_URL",
            ),
            None,
        )
    name = f" ({info.verified_name})" if info.verified_name else ""
    return result("cloudapi_token", title, PASS, f"valid for +{info.digits}{name}"), info


def check_phone_number(info: PhoneNumberInfo | None) -> Result:
    """The phone number id is the number users are told to write to."""
    title = "Business phone"
    if info is None:
        return result("cloudapi_phone", title, SKIP, "skipped: the token check failed")
    try:
        ours = phone_digits(app_settings.BUSINESS_PHONE)
    except InvalidPhoneNumber:
        return result(
            "cloudapi_phone",
            title,
            FAIL,
            "WHATSAPP_LOGIN_BUSINESS_PHONE is not set",
            f'set WHATSAPP_LOGIN_BUSINESS_PHONE = "+{info.digits}"',
        )
    if info.digits != ours:
        return result(
            "cloudapi_phone",
            title,
            FAIL,
            f"the phone number id {info.id} is {mask_phone(info.digits)}, but "
            f"WHATSAPP_LOGIN_BUSINESS_PHONE is {mask_phone(ours)}: users would write to a "
            "number whose messages this site never receives",
            f'set WHATSAPP_LOGIN_BUSINESS_PHONE = "+{info.digits}", or the phone number id of '
            "the right number",
        )
    if info.quality_rating.upper() == "RED":
        return result(
            "cloudapi_phone",
            title,
            WARN,
            f"+{ours}, quality rating RED: Meta may limit what this number sends",
            "see the number's quality in WhatsApp Manager > Phone numbers",
        )
    return result("cloudapi_phone", title, PASS, f"+{ours}")


def check_subscription(client: CloudAPIClient) -> Result:
    """The app is subscribed to the ``messages`` field, so messages reach the webhook."""
    title = "Webhook subscription"
    if not app_settings.CLOUD_API_APP_ID:
        return result(
            "cloudapi_subscription",
            title,
            WARN,
            "cannot check: WHATSAPP_LOGIN_CLOUD_API_APP_ID is not set",
            f"set it to the app id shown in {DASHBOARD}",
        )
    fix = (
        f"in {DASHBOARD} > your app > WhatsApp > Configuration, set the callback URL and "
        "verify token, then subscribe to the messages field"
    )
    try:
        subscriptions = client.subscriptions()
    except (CloudAPIError, WhatsAppLoginImproperlyConfigured) as err:
        return result("cloudapi_subscription", title, FAIL, str(err), fix)
    for subscription in subscriptions:
        if subscription.object == "whatsapp_business_account" and subscription.active:
            if "messages" in subscription.fields:
                return result(
                    "cloudapi_subscription",
                    title,
                    PASS,
                    f"messages -> {subscription.callback_url}",
                )
            return result(
                "cloudapi_subscription",
                title,
                FAIL,
                "the app's webhook is not subscribed to the messages field (subscribed: "
                + (", ".join(subscription.fields) or "none")
                + "): no message ever reaches this site",
                fix,
            )
    return result(
        "cloudapi_subscription",
        title,
        FAIL,
        "the app has no active WhatsApp Business Account webhook",
        fix,
    )


def run_checks(client_factory: Callable[[], CloudAPIClient]) -> list[Result]:
    """Every Cloud API check, in order; the remote ones are skipped without settings."""
    results = [check_settings(), check_secrets()]
    if results[0].status == FAIL:
        reason = "skipped: the Cloud API settings are incomplete"
        results += [
            result("cloudapi_token", "Cloud API access token", SKIP, reason),
            result("cloudapi_phone", "Business phone", SKIP, reason),
            result("cloudapi_subscription", "Webhook subscription", SKIP, reason),
        ]
        return results
    with client_factory() as client:
        token, info = check_token(client)
        results += [token, check_phone_number(info), check_subscription(client)]
    return results
