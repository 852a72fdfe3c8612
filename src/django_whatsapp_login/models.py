from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .phone import mask_phone


class Status(models.TextChoices):
    PENDING = "pending", _("Pending")
    #: The sender was asked in WhatsApp to answer YES or NO (``WHATSAPP_LOGIN_CONFIRM``).
    AWAITING_CONFIRMATION = "awaiting_confirmation", _("Awaiting YES in WhatsApp")
    CONFIRMED = "confirmed", _("Confirmed")
    CONSUMED = "consumed", _("Logged in")
    EXPIRED = "expired", _("Expired")
    REJECTED = "rejected", _("Rejected")


class Reason(models.TextChoices):
    """Why an attempt ended the way it did (the audit trail's reason code)."""

    CONFIRMED = "confirmed", _("Confirmed")
    LOGGED_IN = "logged_in", _("Logged in")
    UNKNOWN_NUMBER = "unknown_number", _("Number not registered")
    SEVERAL_USERS = "several_users", _("Number shared by several users")
    INACTIVE_USER = "inactive_user", _("User cannot log in")
    EXPIRED = "expired", _("Expired")
    CONFLICTING_SENDER = "conflicting_sender", _("Sent from two different numbers")
    LID_SENDER = "lid_sender", _("Sender number hidden (LID)")
    RATE_LIMITED = "rate_limited", _("Rate limited")
    SUPERSEDED = "superseded", _("Replaced by a newer attempt")
    SIGNED_OUT = "signed_out", _("Signed out from WhatsApp")
    CONFLICTING_IDS = "conflicting_ids", _("Sender ids belong to different users")
    LINKED = "linked", _("WhatsApp linked to the account")
    UNREADABLE_SENDER = "unreadable_sender", _("Sender id unreadable")
    LOOKUP_CONFIRMED = "lookup_confirmed", _("Confirmed by the phone number typed on the page")
    APPROVED = "approved", _("Confirmed with YES in WhatsApp")
    DECLINED = "declined", _("Declined with NO in WhatsApp")
    CONFIRMATION_UNSENT = "confirmation_unsent", _("The YES/NO question could not be sent")
    FORWARDED = "forwarded", _("The login text was forwarded")


#: Kept for code written against 0.1 development versions.
RejectReason = Reason


class Purpose(models.TextChoices):
    """What sending an attempt's code does."""

    LOGIN = "login", _("Log in")
    LINK = "link", _("Link WhatsApp to the account")


class LoginAttempt(models.Model):
    """One "send this message to log in" attempt, bound to the browser session that made it.

    Neither the code nor the browser-binding secret is stored: only their SHA-256, so a
    database leak gives nothing that can be sent or presented.
    """

    code_hash = models.CharField(max_length=64, unique=True, editable=False)
    binding_hash = models.CharField(max_length=64, editable=False)
    status = models.CharField(
        max_length=24, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    reason = models.CharField(max_length=32, choices=Reason.choices, blank=True, db_index=True)
    purpose = models.CharField(max_length=8, choices=Purpose.choices, default=Purpose.LOGIN)
    # For a login: the user the sender was resolved to. For a link: the logged-in user who
    # asked to link, set when the attempt is created.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
    )
    # Who confirmed it: a keyed hash to recognise the same sender again, and a masked
    # form for people. The full number is not kept.
    sender_hash = models.CharField(max_length=64, blank=True, editable=False, db_index=True)
    sender_masked = models.CharField(max_length=32, blank=True)
    # The sender's WhatsApp LID (``<digits>@lid``) when the delivery carried one: learned
    # as the user's identity once the login succeeds, and what the phone fallback of the
    # login page checks against. A LID is not a phone number.
    sender_lid = models.CharField(max_length=64, blank=True, editable=False)
    # The sender's Cloud API business-scoped user id (``US.1349...``) when the delivery
    # carried one: learned as the user's identity once the login succeeds, like the LID.
    sender_bsuid = models.CharField(max_length=160, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    expires_at = models.DateTimeField()
    confirmed_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    client_ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=256, blank=True)
    # The approximate place of the creating browser (GeoIP2, a CDN's country header or the
    # masked IP; see context.py), shown in the login notice.
    client_place = models.CharField(max_length=64, blank=True)
    # The ``idMessage`` of the login notice sent for this attempt, so a "NO" that quotes
    # the notice ends exactly this login.
    notice_message_id = models.CharField(max_length=128, blank=True, db_index=True)
    # The YES/NO question (WHATSAPP_LOGIN_CONFIRM): when it was asked (an answer written
    # before cannot be about it) and its ``idMessage`` (an answer quoting it names this
    # login even when several wait).
    asked_at = models.DateTimeField(null=True, blank=True)
    question_message_id = models.CharField(max_length=128, blank=True, db_index=True)
    # SHA-256 of the creating browser's known-device id (devices.py): a browser this user
    # already confirmed with YES is not asked again in "new_device" mode.
    device_hash = models.CharField(max_length=64, blank=True, editable=False)
    # The session the login created, so a "NO" reply in WhatsApp can sign exactly that
    # session out. Same secrecy as Django's own session table; cleared when used.
    session_key = models.CharField(max_length=64, blank=True, editable=False)

    class Meta:
        verbose_name = _("login attempt")
        verbose_name_plural = _("login attempts")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Login attempt #{self.pk} ({self.status})"

    def is_expired(self, now: datetime | None = None) -> bool:
        return (now or timezone.now()) >= self.expires_at

    @property
    def public_status(self) -> str:
        """What the browser may see: pending, awaiting_confirmation, confirmed, expired or
        rejected."""
        if self.status == Status.PENDING and self.is_expired():
            return Status.EXPIRED.value
        if self.status in (Status.CONFIRMED, Status.AWAITING_CONFIRMATION) and self.is_expired():
            return Status.EXPIRED.value
        return str(self.status)


class ProcessedMessage(models.Model):
    """A WhatsApp message already handled; the unique pair makes handling idempotent.

    ``idMessage`` is only unique within a chat, hence the pair with the chat id.
    """

    # 160: a Cloud API chat is a business-scoped user id when the sender hides the phone.
    chat_id = models.CharField(max_length=160)
    message_id = models.CharField(max_length=128)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("processed message")
        verbose_name_plural = _("processed messages")
        constraints = [
            models.UniqueConstraint(
                fields=["chat_id", "message_id"], name="whatsapp_login_unique_message"
            )
        ]

    def __str__(self) -> str:
        return self.message_id


class IdentityKind(models.TextChoices):
    """The kinds of WhatsApp ids a user can be known by (room for other gateways' ids)."""

    PHONE = "phone", _("Phone number")
    LID = "lid", _("WhatsApp LID")
    #: Meta's business-scoped user id (Cloud API): resolved through identities like a LID.
    BSUID = "bsuid", _("WhatsApp business-scoped user id")
    #: A WhatsApp username: it names who wrote, but never logs anyone in on its own (users
    #: change usernames, and a freed one can be taken by somebody else).
    USERNAME = "username", _("WhatsApp username")


class IdentitySource(models.TextChoices):
    """Where an identity came from."""

    TRAFFIC = "traffic", _("Learned from a login message")
    ENROLLMENT = "enrollment", _("Linked by the user")
    LOOKUP = "lookup", _("Looked up with checkWhatsapp")
    ADMIN = "admin", _("Added by an administrator")


class WhatsAppIdentity(models.Model):
    """One WhatsApp id (an E.164 phone or a ``<digits>@lid``) that names one user.

    The unique (kind, value) pair makes "one id belongs to at most one user" a database
    guarantee, so two deliveries that teach conflicting pairs at once cannot both win.
    Create and remove them with :func:`django_whatsapp_login.identities.link` and
    :func:`~django_whatsapp_login.identities.unlink`.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="whatsapp_identities",
    )
    kind = models.CharField(max_length=16, choices=IdentityKind.choices)
    # 160: a business-scoped user id is up to 131 characters.
    value = models.CharField(max_length=160)
    source = models.CharField(max_length=16, choices=IdentitySource.choices)
    created_at = models.DateTimeField(default=timezone.now)
    verified_at = models.DateTimeField(null=True, blank=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("WhatsApp identity")
        verbose_name_plural = _("WhatsApp identities")
        ordering = ["user_id", "kind", "value"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "value"], name="whatsapp_login_unique_identity")
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.masked_value}"

    @property
    def masked_value(self) -> str:
        """The value as people may see it (admin, logs): never a full phone number."""
        if self.kind == IdentityKind.PHONE:
            return mask_phone(self.value)
        digits = self.value.partition("@")[0]
        return f"•••{digits[-4:]}@lid" if self.kind == IdentityKind.LID else "•••"


class KnownDevice(models.Model):
    """A browser that ``user`` confirmed a WhatsApp login from (answering YES).

    The browser keeps a random id in a long-lived, signed, HttpOnly cookie; only its
    SHA-256 is stored. In ``WHATSAPP_LOGIN_CONFIRM = "new_device"`` mode a login from a
    known device is not asked for YES again. Deleting rows (the admin, or
    :func:`django_whatsapp_login.devices.forget`) makes those browsers ask again.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="whatsapp_known_devices",
    )
    device_hash = models.CharField(max_length=64, editable=False)
    # What the user saw in the question when confirming (browser and system, place).
    label = models.CharField(max_length=128, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("known device")
        verbose_name_plural = _("known devices")
        ordering = ["-last_used_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "device_hash"], name="whatsapp_login_unique_known_device"
            )
        ]

    def __str__(self) -> str:
        return self.label or f"Known device #{self.pk}"
