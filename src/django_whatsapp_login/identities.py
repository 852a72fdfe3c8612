"""WhatsApp ids (phones, LIDs) <-> users: parsing, linking and looking them up.

WhatsApp is replacing phone numbers as chat ids by LIDs (``"120650379300963@lid"``), whose
digits are not a phone number. A user may therefore be known by several ids: their phone
(E.164) and one or more LIDs, and on Meta's Cloud API a business-scoped user id (BSUID,
``"US.13491208655302741918"``), which is resolved like a LID.
:class:`~django_whatsapp_login.models.WhatsAppIdentity` keeps those pairs; one id belongs to
at most one user (a database constraint). A username may be stored too, but it never names a
user when a message is resolved: usernames change hands.

Public API for integrators and tests: :func:`link` and :func:`unlink`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from . import signals
from .exceptions import IdentityConflict, InvalidIdentity, InvalidPhoneNumber
from .models import IdentityKind, IdentitySource, WhatsAppIdentity
from .phone import chat_id_to_lid, chat_id_to_phone, normalize_phone
from .resolvers import resolve
from .senders import USERNAME, SenderIds, WhatsAppId, read_bsuid

if TYPE_CHECKING:
    from django.contrib.auth.base_user import AbstractBaseUser

__all__ = [
    "LEARNABLE",
    "IdentityConflict",
    "InvalidIdentity",
    "Resolution",
    "SenderIds",
    "WhatsAppId",
    "find_identities",
    "learn",
    "link",
    "parse_id",
    "resolve_sender",
    "unlink",
]

logger = logging.getLogger("django_whatsapp_login")

#: Longer values are refused before any parsing (a BSUID is up to 131 characters).
MAX_ID_CHARS = 160
#: The kinds of ids :func:`learn` stores from a successful login's traffic: ids WhatsApp
#: gives instead of a phone number (Green API's LID, the Cloud API's business-scoped user
#: id). Phones and usernames are never learned.
LEARNABLE = frozenset({IdentityKind.LID.value, IdentityKind.BSUID.value})


def parse_id(chat_id: object) -> WhatsAppId:
    """Read ``"<digits>@lid"``, ``"<digits>@c.us"`` (device suffix allowed), a business-scoped
    user id (``"US.13491208655302741918"``) or an E.164 phone.

    Raises :class:`InvalidIdentity` for anything else: groups, broadcasts, newsletters,
    malformed or oversized values. A phone written in a national format is read with
    ``WHATSAPP_LOGIN_DEFAULT_REGION`` as :func:`~django_whatsapp_login.phone.normalize_phone`
    does.
    """
    if not isinstance(chat_id, str) or not chat_id.strip() or len(chat_id) > MAX_ID_CHARS:
        raise InvalidIdentity(
            f"A WhatsApp id must be a non-empty string of at most {MAX_ID_CHARS} characters."
        )
    text = chat_id.strip()
    bsuid = read_bsuid(text)
    if bsuid is not None:
        return WhatsAppId(IdentityKind.BSUID.value, bsuid)
    if "@" in text:
        lid = chat_id_to_lid(text)
        if lid is not None:
            return WhatsAppId(IdentityKind.LID.value, lid)
        phone = chat_id_to_phone(text)
        if phone is not None:
            return WhatsAppId(IdentityKind.PHONE.value, phone)
        raise InvalidIdentity(
            "Not a personal WhatsApp id: expected '<digits>@lid', '<digits>@c.us' or a phone."
        )
    try:
        return WhatsAppId(IdentityKind.PHONE.value, normalize_phone(text))
    except InvalidPhoneNumber as err:
        raise InvalidIdentity(str(err)) from None


def link(
    user: AbstractBaseUser,
    chat_id: str | WhatsAppId,
    *,
    source: str = IdentitySource.ADMIN,
    verified: bool = True,
) -> WhatsAppIdentity:
    """Record that the WhatsApp id ``chat_id`` belongs to ``user``; return the identity.

    Idempotent: linking an id the user already has only refreshes ``verified_at`` (when
    ``verified``). Raises :class:`IdentityConflict` when the id belongs to another user (it
    is never moved silently; :func:`unlink` it first) and :class:`InvalidIdentity` for a
    value :func:`parse_id` cannot read. Sends ``identity_linked`` after commit for a new link.
    """
    ident = chat_id if isinstance(chat_id, WhatsAppId) else parse_id(chat_id)
    if source not in IdentitySource.values:
        raise ValueError(f"Unknown identity source {source!r}: one of {IdentitySource.values}")
    now = timezone.now()
    try:
        with transaction.atomic():
            identity, created = WhatsAppIdentity.objects.select_for_update().get_or_create(
                kind=ident.kind,
                value=ident.value,
                defaults={
                    "user_id": user.pk,
                    "source": source,
                    "verified_at": now if verified else None,
                },
            )
    except IntegrityError:
        # A concurrent link of the same id won the insert: judge against the winner.
        identity, created = WhatsAppIdentity.objects.get(kind=ident.kind, value=ident.value), False
    if identity.user_id != user.pk:
        raise IdentityConflict(f"This WhatsApp {ident.kind} already belongs to another user.")
    if created:
        logger.info("WhatsApp %s linked to user %s (%s)", ident.kind, user.pk, source)
        transaction.on_commit(
            lambda: signals.identity_linked.send(
                sender=WhatsAppIdentity, identity=identity, user=user, source=str(source)
            )
        )
    elif verified:
        WhatsAppIdentity.objects.filter(pk=identity.pk).update(verified_at=now)
        identity.verified_at = now
    return identity


def unlink(user: AbstractBaseUser, chat_id: str | WhatsAppId) -> bool:
    """Remove the WhatsApp id ``chat_id`` from ``user``. True if it was linked to them.

    Never removes another user's identity. Sends ``identity_unlinked`` after commit.
    """
    ident = chat_id if isinstance(chat_id, WhatsAppId) else parse_id(chat_id)
    deleted, _ = WhatsAppIdentity.objects.filter(
        user_id=user.pk, kind=ident.kind, value=ident.value
    ).delete()
    if not deleted:
        return False
    logger.info("WhatsApp %s unlinked from user %s", ident.kind, user.pk)
    transaction.on_commit(
        lambda: signals.identity_unlinked.send(
            sender=WhatsAppIdentity, user=user, kind=ident.kind, value=ident.value
        )
    )
    return True


def find_identities(ids: Iterable[WhatsAppId]) -> dict[WhatsAppId, Any]:
    """The identities among ``ids`` that are known, as ``{id: user_id}``, in one query."""
    wanted = list(dict.fromkeys(ids))
    if not wanted:
        return {}
    query = Q()
    for ident in wanted:
        query |= Q(kind=ident.kind, value=ident.value)
    rows = WhatsAppIdentity.objects.filter(query).values_list("kind", "value", "user_id")
    return {WhatsAppId(kind, value): user_id for kind, value, user_id in rows}


# --- resolving the sender of a message ---------------------------------------------------

#: ``last_seen_at`` is refreshed at most this often: a login costs no extra write while the
#: identity was seen recently (the webhook's query budget), and an hour is precise enough to
#: tell a LID in use from a stale one.
SEEN_GRANULARITY = timedelta(hours=1)


@dataclass(frozen=True)
class Resolution:
    """Who sent a message: ``user`` with ``reason == ""``, or ``user is None`` and a
    ``Reason`` value (``unknown_number``, ``several_users``, ``lid_sender``,
    ``conflicting_ids``, ``unreadable_sender``)."""

    user: Any
    reason: str = ""
    #: Identity rows that named ``user`` and were not seen within SEEN_GRANULARITY.
    stale_identities: tuple[Any, ...] = field(default=())


def resolve_sender(senders: SenderIds, **context: Any) -> Resolution:
    """Find the one user who sent a message carrying ``senders``.

    Known identities (one query for all ids) name their user. A phone on either side also
    goes through the configured resolver (``resolvers.resolve(phone, **context)``), which
    stays the authority for phones. The user is accepted only if everything that names
    somebody names the same user: an identity of one user and a resolver answer (or another
    identity) of another reject the message with ``conflicting_ids``, so a phone on one side
    and another person's LID on the other never logs either of them in. An identity settles
    a phone the resolver cannot (no user or several users with that number): it is an
    explicit link. A LID nobody is linked to, with no phone beside it, is ``lid_sender``:
    the digits of a LID are not a phone number; so is a business-scoped user id. Usernames
    are not looked up at all: a sender known only by one is ``unreadable_sender``.
    """
    anchors = [ident for ident in senders.ids if ident.kind != USERNAME]
    if senders.unreadable or not anchors:
        return Resolution(None, "unreadable_sender")
    if senders.contradictory:
        return Resolution(None, "conflicting_ids")
    rows = _identities_with_users(anchors)
    named = {row.user_id: row.user for row in rows}
    if len(named) > 1:
        return Resolution(None, "conflicting_ids")
    user = next(iter(named.values()), None)
    phone = senders.phone
    if phone is not None:
        found, failure = resolve(phone, **context)
        if found is not None and user is not None and found.pk != user.pk:
            return Resolution(None, "conflicting_ids")
        if user is None:
            if found is None:
                return Resolution(None, failure)
            user = found
    elif user is None:
        return Resolution(None, "lid_sender")
    cutoff = timezone.now() - SEEN_GRANULARITY
    stale = tuple(
        row
        for row in rows
        if row.user_id == user.pk and (row.last_seen_at is None or row.last_seen_at < cutoff)
    )
    return Resolution(user, "", stale)


def _identities_with_users(ids: Iterable[WhatsAppId]) -> list[WhatsAppIdentity]:
    wanted = list(dict.fromkeys(ids))
    if not wanted:
        return []
    query = Q()
    for ident in wanted:
        query |= Q(kind=ident.kind, value=ident.value)
    return list(WhatsAppIdentity.objects.filter(query).select_related("user"))


def mark_seen(resolution: Resolution) -> None:
    """Refresh ``last_seen_at`` of the identities that named the user: one UPDATE, if any."""
    if resolution.stale_identities:
        WhatsAppIdentity.objects.filter(
            pk__in=[row.pk for row in resolution.stale_identities]
        ).update(last_seen_at=timezone.now())


def learn(user: AbstractBaseUser, lid: str, *, source: str = IdentitySource.TRAFFIC) -> bool:
    """Store ``lid`` (a LID, or a business-scoped user id: any :data:`LEARNABLE` kind) as
    ``user``'s identity after a login of theirs succeeded. True if stored.

    Only those kinds are learned: a phone seen in traffic is never stored as an identity
    (nor a username: usernames change hands). Phone
    numbers are recycled; a stored pair would keep logging the old account in after the
    site changed the user's number, whereas the resolver always reads the site's current
    data. A LID that already belongs to another user is not moved and does not fail the
    login: the conflict is logged (and the next message carrying both ids is refused with
    ``conflicting_ids``).
    """
    try:
        ident = parse_id(lid)
    except InvalidIdentity:
        return False
    if ident.kind not in LEARNABLE:
        return False
    try:
        with transaction.atomic():
            identity = link(user, ident, source=source, verified=source != IdentitySource.TRAFFIC)
            WhatsAppIdentity.objects.filter(pk=identity.pk).update(last_seen_at=timezone.now())
    except IdentityConflict:
        logger.warning(
            "WhatsApp %s %s of user %s's login already belongs to another user: not stored",
            ident.kind,
            ident.masked,
            user.pk,
        )
        return False
    return True
