"""Helpers for the tests of the Green API client, the management commands and the replies."""

from __future__ import annotations

from io import StringIO

from django.core.management import call_command
from django.core.management.base import CommandError

from .conftest import TOKEN

WEBHOOK_URL = "https://testserver/whatsapp/webhook/"


def make_healthy(fake, url: str = WEBHOOK_URL) -> None:
    """What whatsapp_login_setup leaves behind, applied directly to the fake."""
    fake.settings.update(
        webhookUrl=url,
        webhookUrlToken=TOKEN,
        incomingWebhook="yes",
        outgoingWebhook="no",
        outgoingMessageWebhook="no",
        outgoingAPIMessageWebhook="no",
        enableLidMode="no",
    )


def run_command(name: str, *args: str) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of a management command."""
    out, err = StringIO(), StringIO()
    try:
        call_command(name, *args, stdout=out, stderr=err)
        code = 0
    except CommandError as error:
        code = error.returncode
        err.write(str(error))
    return code, out.getvalue(), err.getvalue()
