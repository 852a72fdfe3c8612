"""Which stored phone numbers can log in with WhatsApp, and which cannot.

The default resolver compares the sender's E.164 number (``"+996557903999"``) with the
stored value *exactly*: a phone stored as ``"0557 903 999"`` or ``"+996 557 903-999"`` never
matches, and a number stored on two accounts logs neither in. :func:`audit_phones` finds
those rows without changing anything::

    from django_whatsapp_login.phone_audit import audit_phones

    report = audit_phones()       # whoever the configured resolver can log in
    report = audit_phones(Tenant.objects.all(), field="phone")   # any model and field
    print(report.reachable, "of", report.total)
    for issue in report.unusable: print(issue.pk, issue.masked, issue.problem, issue.change)

Without arguments it asks the configured resolver: the default one's users are read from
``WHATSAPP_LOGIN_PHONE_FIELD``; a custom resolver must list its users with a
``reachable_users`` hook (see :func:`~django_whatsapp_login.resolvers.with_reachable_users`),
otherwise :class:`CannotCount` is raised: the field says nothing about who a custom resolver
finds.

Phones in the report are always masked; rows are identified by primary key, so a command
that fixes them can load them again.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import FieldDoesNotExist
from django.db.models import Model, QuerySet

from .conf import DEFAULT_RESOLVER, app_settings
from .exceptions import WhatsAppLoginImproperlyConfigured
from .phone import InvalidPhoneNumber, mask_phone, mask_written, normalize_phone

__all__ = [
    "CannotCount",
    "IdentityCoverage",
    "PhoneAudit",
    "PhoneIssue",
    "ReachableUser",
    "SharedPhone",
    "audit_phones",
    "describe_change",
    "identity_coverage",
    "reachable_users",
]


class CannotCount(WhatsAppLoginImproperlyConfigured):
    """The configured resolver is custom and has no ``reachable_users`` hook."""


#: ``PhoneIssue.problem`` values.
NOT_A_PHONE = "not_a_phone"  # normalize_phone() refuses it: nobody can log in with it
NOT_E164 = "not_e164"  # a phone, but stored in another format: the exact lookup misses it


@dataclass(frozen=True)
class PhoneIssue:
    """A row whose stored phone cannot be used as it is."""

    pk: Any
    masked: str  # the stored value, digits hidden, its separators kept (mask_written)
    problem: str  # NOT_A_PHONE or NOT_E164
    normalized_masked: str = ""  # for NOT_E164: the E.164 form it should be stored as
    change: str = ""  # for NOT_E164: what turns one into the other, in words
    reason: str = ""  # for NOT_A_PHONE: why normalize_phone() refuses it


@dataclass(frozen=True)
class SharedPhone:
    """One number (compared in E.164) stored on several rows: none of them can log in."""

    masked: str
    pks: tuple[Any, ...]


@dataclass(frozen=True)
class PhoneAudit:
    """The result of :func:`audit_phones`.

    ``total`` rows looked at; ``empty`` with no phone; ``reachable`` with a phone stored in
    E.164, on no other row, and (when the model has ``is_active``) active; ``inactive``
    otherwise reachable but inactive; ``unusable`` rows whose phone is not stored in a form
    the exact lookup finds; ``shared`` numbers on several rows.
    """

    model: str
    field: str  # "" when the resolver's reachable_users hook was asked
    total: int = 0
    empty: int = 0
    reachable: int = 0
    inactive: int = 0
    unusable: list[PhoneIssue] = dataclasses.field(default_factory=list)
    shared: list[SharedPhone] = dataclasses.field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Every stored phone can be used (and at least one can)."""
        return self.reachable > 0 and not self.unusable and not self.shared

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready; primary keys are converted with ``str()``."""
        data = asdict(self)
        for issue in data["unusable"]:
            issue["pk"] = str(issue["pk"])
        for shared in data["shared"]:
            shared["pks"] = [str(pk) for pk in shared["pks"]]
        return data


def _has_field(model: type[Model], name: str) -> bool:
    try:
        model._meta.get_field(name)
    except FieldDoesNotExist:
        return False
    return True


def describe_change(value: str, e164: str) -> str:
    """What turns the stored ``value`` into ``e164``, without printing either.

    ``"+7 912 000 11 22"`` -> ``"remove the spaces and punctuation"``;
    ``"8 (912) 000-11-22"`` -> ``"replace the national prefix 8 with +7"``.
    """
    digits = "".join(ch for ch in value if ch.isdigit())
    target = e164[1:]
    text = value.strip()
    if digits == target:
        return (
            "write + instead of 00"
            if text.startswith("00")
            else (
                "remove the spaces and punctuation"
                if text.startswith("+")
                else "add the + in front"
            )
        )
    if digits.startswith("00") and digits[2:] == target:
        return "write + instead of 00 and remove the spaces and punctuation"
    if digits and digits[0] in "08" and target.endswith(digits[1:]):
        code = target[: len(target) - len(digits) + 1]
        return f"replace the national prefix {digits[0]} with +{code}"
    if target.endswith(digits):
        return f"add the country code +{target[: len(target) - len(digits)]}"
    return "rewrite it in E.164"


def audit_phones(
    queryset: QuerySet[Any] | None = None,
    *,
    field: str | None = None,
    chunk_size: int = 2000,
) -> PhoneAudit:
    """Classify the phone of every user the resolver can find, or of ``queryset.field``.

    Without ``queryset`` and ``field`` the configured resolver is asked: for the default
    resolver, all users of the user model and ``WHATSAPP_LOGIN_PHONE_FIELD``; for a custom
    one, its ``reachable_users()`` hook, or :class:`CannotCount` without one. With either
    argument, the phone stored in ``field`` (default ``WHATSAPP_LOGIN_PHONE_FIELD``) on every
    row of ``queryset`` (default: all users). National formats are read with
    ``WHATSAPP_LOGIN_DEFAULT_REGION``.

    Reads the rows in chunks with ``values_list`` (no model instances); keeps one entry per
    distinct number in memory to find shared ones. Raises
    :class:`WhatsAppLoginImproperlyConfigured` when the model has no such field. Read-only.
    """
    if queryset is None and field is None and app_settings.USER_RESOLVER != DEFAULT_RESOLVER:
        return _audit_resolver()
    if queryset is None:
        queryset = get_user_model()._default_manager.all()
    field = field or app_settings.PHONE_FIELD
    model = queryset.model
    if not _has_field(model, field):
        raise WhatsAppLoginImproperlyConfigured(
            f"{model._meta.label} has no field {field!r} (WHATSAPP_LOGIN_PHONE_FIELD)."
        )
    columns = ["pk", field] + (["is_active"] if _has_field(model, "is_active") else [])
    rows: Iterable[tuple[Any, ...]] = (
        queryset.order_by("pk").values_list(*columns).iterator(chunk_size=chunk_size)
    )
    return _classify(
        model._meta.label,
        field,
        ((row[0], row[1], bool(row[2]) if len(row) > 2 else True) for row in rows),
    )


def _audit_resolver() -> PhoneAudit:
    from .resolvers import get_reachable_users

    hook = get_reachable_users()
    if hook is None:
        raise CannotCount(
            f"The resolver {app_settings.USER_RESOLVER} has no reachable_users hook, so who "
            "can log in cannot be counted (WHATSAPP_LOGIN_PHONE_FIELD is not what it reads)."
        )
    label = app_settings.USER_RESOLVER
    return _classify(
        label,
        "",
        (
            (getattr(user, "pk", None), phone, bool(getattr(user, "is_active", True)))
            for user, phone in hook()
        ),
    )


def _classify(model: str, field: str, rows: Iterable[tuple[Any, Any, bool]]) -> PhoneAudit:
    unusable: list[PhoneIssue] = []
    shared: list[SharedPhone] = []
    by_phone: dict[str, list[tuple[Any, bool, bool]]] = {}  # e164 -> [(pk, exact, active)]
    total = empty = 0
    for pk, value, active in rows:
        total += 1
        if value is None or str(value).strip() == "":
            empty += 1
            continue
        text = str(value)
        try:
            e164 = normalize_phone(text)
        except InvalidPhoneNumber as err:
            unusable.append(PhoneIssue(pk, mask_written(text), NOT_A_PHONE, reason=str(err)))
            continue
        exact = text == e164
        if not exact:
            unusable.append(
                PhoneIssue(
                    pk, mask_written(text), NOT_E164, mask_phone(e164), describe_change(text, e164)
                )
            )
        by_phone.setdefault(e164, []).append((pk, exact, active))

    reachable = inactive = 0
    for e164, owners in by_phone.items():
        if len(owners) > 1:
            shared.append(SharedPhone(mask_phone(e164), tuple(pk for pk, _, _ in owners)))
            continue
        _pk, exact, active = owners[0]
        if exact and active:
            reachable += 1
        elif exact:
            inactive += 1
    return PhoneAudit(
        model=model,
        field=field,
        total=total,
        empty=empty,
        reachable=reachable,
        inactive=inactive,
        unusable=unusable,
        shared=shared,
    )


# --- who can log in, and which of them WhatsApp knows by a LID ------------------------------


@dataclass(frozen=True)
class ReachableUser:
    """A user the resolver can log in, and the E.164 phone it finds them by."""

    pk: Any
    phone: str


def reachable_users(chunk_size: int = 2000) -> list[ReachableUser]:
    """The users the resolver can log in, ordered by primary key.

    The one place that enumerates them (the LID lookup command, the doctor's LID coverage
    and the audit's identity counts use it), from the same source as :func:`audit_phones`:
    the default resolver's ``WHATSAPP_LOGIN_PHONE_FIELD``, or a custom resolver's
    ``reachable_users`` hook (:class:`CannotCount` without one). A user counts when their
    phone is stored exactly in E.164, on no other user, and they are active. Raises
    :class:`WhatsAppLoginImproperlyConfigured` when the user model has no such field.
    Read-only.
    """
    rows: Iterable[tuple[Any, Any, bool]]
    if app_settings.USER_RESOLVER != DEFAULT_RESOLVER:
        from .resolvers import get_reachable_users

        hook = get_reachable_users()
        if hook is None:
            raise CannotCount(
                f"The resolver {app_settings.USER_RESOLVER} has no reachable_users hook, so "
                "the users who can log in cannot be listed."
            )
        rows = (
            (getattr(user, "pk", None), phone, bool(getattr(user, "is_active", True)))
            for user, phone in hook()
        )
    else:
        model = get_user_model()
        field = app_settings.PHONE_FIELD
        if not _has_field(model, field):
            raise WhatsAppLoginImproperlyConfigured(
                f"{model._meta.label} has no field {field!r} (WHATSAPP_LOGIN_PHONE_FIELD), so "
                "the users who can log in cannot be listed."
            )
        columns = ["pk", field] + (["is_active"] if _has_field(model, "is_active") else [])
        rows = (
            (row[0], row[1], bool(row[2]) if len(row) > 2 else True)
            for row in model._default_manager.order_by("pk")
            .values_list(*columns)
            .iterator(chunk_size=chunk_size)
        )
    owners: dict[str, list[tuple[Any, bool]]] = {}  # e164 -> [(pk, exact and active)]
    for pk, raw, active in rows:
        value = "" if raw is None else str(raw)
        if not value.strip():
            continue
        try:
            e164 = normalize_phone(value)
        except InvalidPhoneNumber:
            continue
        owners.setdefault(e164, []).append((pk, value == e164 and active))
    found = [
        ReachableUser(entries[0][0], e164)
        for e164, entries in owners.items()
        if len(entries) == 1 and entries[0][1] and entries[0][0] is not None
    ]
    found.sort(key=lambda user: user.pk)
    return found


@dataclass(frozen=True)
class IdentityCoverage:
    """How many users WhatsApp can name by a LID (see :func:`identity_coverage`).

    ``reachable`` users the resolver can log in, ``reachable_with_lid`` of them with a known
    LID; across all users, ``with_lid`` have at least one LID identity and ``with_phone`` a
    phone identity.
    """

    reachable: int
    reachable_with_lid: int
    with_lid: int
    with_phone: int

    @property
    def complete(self) -> bool:
        """Every reachable user has a known LID."""
        return self.reachable_with_lid >= self.reachable

    @property
    def missing(self) -> int:
        return self.reachable - self.reachable_with_lid

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "complete": self.complete, "missing": self.missing}


def users_with_lid() -> set[Any]:
    """Primary keys of the users with at least one LID identity."""
    from .models import IdentityKind, WhatsAppIdentity

    return set(
        WhatsAppIdentity.objects.filter(kind=IdentityKind.LID)
        .values_list("user_id", flat=True)
        .distinct()
    )


def identity_coverage(users: Iterable[ReachableUser] | None = None) -> IdentityCoverage:
    """Count the WhatsApp identities: how many reachable users have a known LID, and how
    many users have a LID or a phone identity at all. ``users`` defaults to
    :func:`reachable_users`. Read-only."""
    from .models import IdentityKind, WhatsAppIdentity

    reachable = list(reachable_users() if users is None else users)
    with_lid = users_with_lid()
    with_phone = (
        WhatsAppIdentity.objects.filter(kind=IdentityKind.PHONE)
        .values_list("user_id", flat=True)
        .distinct()
        .count()
    )
    return IdentityCoverage(
        reachable=len(reachable),
        reachable_with_lid=sum(1 for user in reachable if user.pk in with_lid),
        with_lid=len(with_lid),
        with_phone=with_phone,
    )
