"""Which stored phone numbers can log in with WhatsApp, and which cannot.

The default resolver compares the sender's E.164 number (``"+996557903999"``) with the
stored value *exactly*: a phone stored as ``"0557 903 999"`` or ``"+996 557 903-999"`` never
matches, and a number stored on two accounts logs neither in. :func:`audit_phones` finds
those rows without changing anything::

    from django_whatsapp_login.phone_audit import audit_phones

    report = audit_phones()                      # the user model, WHATSAPP_LOGIN_PHONE_FIELD
    report = audit_phones(Tenant.objects.all(), field="phone")   # any model and field
    print(report.reachable, "of", report.total)
    for issue in report.unusable: print(issue.pk, issue.masked, issue.problem)

Phones in the report are always masked (``+996•••999``); rows are identified by primary
key, so a command that fixes them can load them again.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import FieldDoesNotExist
from django.db.models import Model, QuerySet

from .conf import app_settings
from .exceptions import WhatsAppLoginImproperlyConfigured
from .phone import InvalidPhoneNumber, mask_phone, normalize_phone

__all__ = ["PhoneAudit", "PhoneIssue", "SharedPhone", "audit_phones"]

#: ``PhoneIssue.problem`` values.
NOT_A_PHONE = "not_a_phone"  # normalize_phone() refuses it: nobody can log in with it
NOT_E164 = "not_e164"  # a phone, but stored in another format: the exact lookup misses it


@dataclass(frozen=True)
class PhoneIssue:
    """A row whose stored phone cannot be used as it is."""

    pk: Any
    masked: str
    problem: str  # NOT_A_PHONE or NOT_E164
    normalized_masked: str = ""  # for NOT_E164: the E.164 form it should be stored as


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
    field: str
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


def audit_phones(
    queryset: QuerySet[Any] | None = None,
    *,
    field: str | None = None,
    chunk_size: int = 2000,
) -> PhoneAudit:
    """Classify the phone stored in ``field`` on every row of ``queryset``.

    Defaults: all users of the user model and ``WHATSAPP_LOGIN_PHONE_FIELD``. Reads the rows
    in chunks with ``values_list`` (no model instances); keeps one entry per distinct number
    in memory to find shared ones. Raises :class:`WhatsAppLoginImproperlyConfigured` when the
    model has no such field. Read-only.
    """
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

    report = PhoneAudit(model=model._meta.label, field=field)
    by_phone: dict[str, list[tuple[Any, bool, bool]]] = {}  # e164 -> [(pk, exact, active)]
    total = empty = 0
    for row in rows:
        total += 1
        pk, value = row[0], row[1]
        active = bool(row[2]) if len(row) > 2 else True
        if value is None or str(value).strip() == "":
            empty += 1
            continue
        try:
            e164 = normalize_phone(str(value))
        except InvalidPhoneNumber:
            report.unusable.append(PhoneIssue(pk, mask_phone(value), NOT_A_PHONE))
            continue
        exact = str(value) == e164
        if not exact:
            report.unusable.append(PhoneIssue(pk, mask_phone(value), NOT_E164, mask_phone(e164)))
        by_phone.setdefault(e164, []).append((pk, exact, active))

    reachable = inactive = 0
    for e164, owners in by_phone.items():
        if len(owners) > 1:
            report.shared.append(SharedPhone(mask_phone(e164), tuple(pk for pk, _, _ in owners)))
            continue
        _pk, exact, active = owners[0]
        if exact and active:
            reachable += 1
        elif exact:
            inactive += 1
    return PhoneAudit(
        model=report.model,
        field=field,
        total=total,
        empty=empty,
        reachable=reachable,
        inactive=inactive,
        unusable=report.unusable,
        shared=report.shared,
    )
