"""``manage.py whatsapp_login_poll``: receive WhatsApp messages through the Green API HTTP API.

For sites without a public URL (behind NAT, in development). Each notification goes to
``webhooks.handle_payload``, the webhook's own handler, and is deleted from Green API's
queue only after it was handled: delivery is at-least-once, which is safe because handling
is idempotent on the message id. Green API refuses polling while a webhook URL is set, so
the command refuses to start then; and it refuses when ``WHATSAPP_LOGIN_GATEWAY`` is not
Green API (the Cloud API has no polling: Meta only delivers by webhook).
"""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import close_old_connections

from django_whatsapp_login import webhooks
from django_whatsapp_login.conf import app_settings
from django_whatsapp_login.exceptions import WhatsAppLoginImproperlyConfigured
from django_whatsapp_login.gateways import gateway_class
from django_whatsapp_login.gateways.greenapi.client import GreenAPIClient, GreenAPIError
from django_whatsapp_login.gateways.greenapi.gateway import GreenAPIGateway

logger = logging.getLogger("django_whatsapp_login")


class Command(BaseCommand):
    help = (
        "Receive WhatsApp messages by polling Green API (receiveNotification / "
        "deleteNotification) instead of the webhook. Stops on SIGTERM or Ctrl-C."
    )
    #: Seconds to wait after the first error; doubled on each further one, up to BACKOFF_MAX.
    BACKOFF_BASE = 1.0
    BACKOFF_MAX = 60.0

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--receive-timeout",
            type=int,
            default=20,
            help="Seconds Green API holds an empty receiveNotification open (5-60).",
        )
        parser.add_argument(
            "--once",
            action="store_true",
            help="Handle at most one notification (or one error), then stop.",
        )
        parser.add_argument(
            "--max-iterations",
            type=int,
            default=0,
            help="Stop after this many receive calls (0: run until stopped).",
        )
        parser.add_argument(
            "--until-empty", action="store_true", help="Stop when the queue is empty."
        )

    @staticmethod
    def _require_green_api() -> None:
        """Polling is Green API's receiveNotification: refuse any other gateway."""
        try:
            cls = gateway_class()
        except WhatsAppLoginImproperlyConfigured as err:
            raise CommandError(str(err)) from None
        if not issubclass(cls, GreenAPIGateway):
            raise CommandError(
                f"whatsapp_login_poll receives messages from Green API only, but "
                f"WHATSAPP_LOGIN_GATEWAY is {app_settings.GATEWAY!r}. The Cloud API (and "
                "other gateways) deliver to the webhook URL (whatsapp_login:webhook): "
                "expose it, e.g. through a tunnel in development, instead of polling."
            )

    def handle(self, *args: Any, **options: Any) -> None:
        self._stop = threading.Event()
        limit = 1 if options["once"] else max(0, options["max_iterations"])
        self._require_green_api()
        problem = GreenAPIClient.url_problem(app_settings.GREEN_API_URL)
        if problem:
            # Every receiveNotification carries the API token in its URL, every 20 seconds.
            raise CommandError(f"Refusing to poll: WHATSAPP_LOGIN_GREEN_API_URL {problem}.")
        try:
            client = GreenAPIClient.from_settings()
        except WhatsAppLoginImproperlyConfigured as err:
            raise CommandError(str(err)) from None
        with client:
            try:
                webhook_url = client.get_settings().webhook_url
            except GreenAPIError as err:
                raise CommandError(str(err)) from None
            if webhook_url:
                raise CommandError(
                    f"The instance has a webhook URL ({webhook_url}), and Green API refuses "
                    "polling while one is set. Use the webhook, or clear it with: manage.py "
                    "whatsapp_login_setup --poll (then wait up to 5 minutes)."
                )
            previous = self._install_signal_handlers()
            try:
                self._loop(client, limit, options["receive_timeout"], options["until_empty"])
            finally:
                self._restore_signal_handlers(previous)
        self.stdout.write("Stopped.")

    # --- the loop --------------------------------------------------------------------------

    def _loop(
        self, client: GreenAPIClient, limit: int, receive_timeout: int, until_empty: bool
    ) -> None:
        self.stdout.write("Polling Green API for incoming messages (Ctrl-C to stop)...")
        iterations = errors = handled = 0
        while not self._stop.is_set() and (not limit or iterations < limit):
            iterations += 1
            try:
                notification = client.receive_notification(receive_timeout)
            except GreenAPIError as err:
                errors += 1
                self._back_off(errors, err)
                continue
            if notification is None:
                errors = 0
                if until_empty:
                    break
                continue
            close_old_connections()
            try:
                outcome = webhooks.handle_payload(notification.body, request=None)
            except Exception:  # not deleted: Green API hands it over again
                errors += 1
                logger.exception(
                    "Notification %s could not be handled; it stays queued", notification.receipt_id
                )
                self._back_off(errors, None)
                continue
            try:
                client.delete_notification(notification.receipt_id)
            except GreenAPIError as err:
                # Handled but not deleted: it comes back and is recognised as a duplicate.
                errors += 1
                self._back_off(errors, err)
                continue
            errors = 0
            handled += 1
            logger.info(
                "Notification %s: %s %s", notification.receipt_id, outcome.action, outcome.reason
            )
        self.stdout.write(f"Handled {handled} notification(s).")

    def _back_off(self, errors: int, err: GreenAPIError | None) -> None:
        delay = min(self.BACKOFF_MAX, self.BACKOFF_BASE * 2 ** (errors - 1))
        if err is not None:
            logger.warning("%s; polling again in %.0f s", err, delay)
            self.stderr.write(f"{err}; polling again in {delay:.0f} s")
        self._stop.wait(delay)

    # --- signals --------------------------------------------------------------------------

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.stderr.write(f"Received {signal.Signals(signum).name}; stopping after this call.")
        self._stop.set()

    def _install_signal_handlers(self) -> dict[int, Any]:
        previous: dict[int, Any] = {}
        if threading.current_thread() is not threading.main_thread():
            return previous  # signals can only be handled in the main thread
        for signum in (signal.SIGTERM, signal.SIGINT):
            previous[signum] = signal.signal(signum, self._on_signal)
        return previous

    @staticmethod
    def _restore_signal_handlers(previous: dict[int, Any]) -> None:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
