"""The checks behind ``manage.py whatsapp_login_check``: why does nobody get logged in?

In the original system every failure looked the same ("waiting for confirmation in
WhatsApp" forever). Its causes were: the instance not authorised, the webhook not
configured or not working, the user's phone not in the database, the message never sent.
Each check names one of them and says how to fix it. Secrets are never printed.

This module is the core: :class:`Result` and :class:`Report`, the :class:`Checkup` a run
reads its options from and writes its lines into, and the checks that do not depend on the
gateway (which gateway, the users and the resolver, the phone audit, the delivery self-test's
place in the run). The configured gateway contributes its own lines through
:meth:`Gateway.checks <django_whatsapp_login.gateways.Gateway.checks>` and, for
``--self-test``, :meth:`Gateway.self_test <django_whatsapp_login.gateways.Gateway.self_test>`:
``gateways/greenapi/checks.py``, ``gateways/cloudapi/checks.py``.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from .conf import DEFAULT_RESOLVER, app_settings
from .exceptions import WhatsAppLoginImproperlyConfigured
from .phone import InvalidPhoneNumber, mask_phone, normalize_phone

if TYPE_CHECKING:
    from .gateways.base import Gateway
    from .gateways.greenapi.client import GreenAPIClient

__all__ = [
    "FAIL",
    "PASS",
    "SKIP",
    "WARN",
    "Checkup",
    "Doctor",
    "Report",
    "Result",
    "result",
    "run",
]

PASS, FAIL, WARN, SKIP = "pass", "fail", "warn", "skip"


@dataclass
class Result:
    id: str
    title: str
    status: str
    detail: str
    fix: str = ""

    @property
    def ok(self) -> bool:
        return self.status != FAIL


@dataclass
class Report:
    results: list[Result]

    @property
    def ok(self) -> bool:
        return all(result.ok for result in self.results)

    def failed(self, strict: bool = False) -> list[Result]:
        bad = (FAIL, WARN) if strict else (FAIL,)
        return [r for r in self.results if r.status in bad]

    def to_json(self, strict: bool = False) -> str:
        return json.dumps(
            {"ok": not self.failed(strict), "checks": [asdict(r) for r in self.results]},
            ensure_ascii=False,
            indent=2,
        )


def result(id: str, title: str, status: str, detail: str, fix: str = "") -> Result:
    """One line of the report; ``fix`` is kept only where something is to be fixed (FAIL,
    WARN)."""
    return Result(id, title, status, detail, fix if status in (FAIL, WARN) else "")


@dataclass
class Checkup:
    """One run of the doctor: what it was asked (the command's options) and what its checks
    wrote so far.

    A gateway's checks read the options (``url``, ``poll``...); what one learns that a later
    one needs (the webhook URL the instance reports, for the self-test) goes into ``notes``,
    under a key named after the gateway.
    """

    url: str | None = None
    phone: str | None = None
    self_test: bool = False
    poll: bool = False
    results: list[Result] = field(default_factory=list)
    notes: dict[str, Any] = field(default_factory=dict)

    def add(self, id: str, title: str, status: str, detail: str, fix: str = "") -> Result:
        line = result(id, title, status, detail, fix)
        self.results.append(line)
        return line


def gateway_checks(gateway: Gateway, checkup: Checkup) -> list[Result]:
    """``gateway.checks(checkup)``; a gateway written before checks took a checkup
    (``def checks(self)``) is called without one."""
    try:
        takes_checkup = bool(inspect.signature(gateway.checks).parameters)
    except (TypeError, ValueError):  # a signature Python cannot read: assume the new one
        takes_checkup = True
    return list(gateway.checks(checkup) if takes_checkup else gateway.checks())


class Doctor:
    """Run every check. ``gateway`` is the gateway to check (default: the configured one,
    :func:`~django_whatsapp_login.gateways.get_gateway`); ``client_factory``, for the Green
    API gateway, builds its client (tests inject one)."""

    def __init__(
        self,
        *,
        url: str | None = None,
        phone: str | None = None,
        self_test: bool = False,
        poll: bool = False,
        gateway: Gateway | None = None,
        client_factory: Callable[[], GreenAPIClient] | None = None,
    ) -> None:
        self.checkup = Checkup(url=url, phone=phone, self_test=self_test, poll=poll)
        self.gateway = gateway
        self.client_factory = client_factory

    @property
    def results(self) -> list[Result]:
        return self.checkup.results

    @property
    def phone(self) -> str | None:
        return self.checkup.phone

    def add(self, id: str, title: str, status: str, detail: str, fix: str = "") -> Result:
        return self.checkup.add(id, title, status, detail, fix)

    def run(self) -> Report:
        gateway = self.check_gateway()
        self.check_users()
        if gateway is not None and self.checkup.self_test:
            self.results.extend(gateway.self_test(self.checkup))
        return Report(self.results)

    # --- the gateway ------------------------------------------------------------------------

    def load_gateway(self) -> Gateway:
        if self.gateway is not None:
            return self.gateway
        if self.client_factory is not None and app_settings.GATEWAY == "greenapi":
            from .gateways.greenapi.gateway import GreenAPIGateway

            return GreenAPIGateway(client_factory=self.client_factory)
        from .gateways import get_gateway

        return get_gateway()

    def check_gateway(self) -> Gateway | None:
        """The gateway's own lines; one FAIL line when it cannot be loaded (E033)."""
        try:
            gateway = self.load_gateway()
            self.results.extend(gateway_checks(gateway, self.checkup))
        except WhatsAppLoginImproperlyConfigured as err:
            self.add(
                "gateway",
                "Gateway",
                FAIL,
                str(err),
                'set WHATSAPP_LOGIN_GATEWAY to "greenapi", "cloudapi" or a Gateway subclass',
            )
            return None
        return gateway

    # --- users --------------------------------------------------------------------------------

    def check_users(self) -> None:
        from django.db import DatabaseError

        try:
            if self.phone:
                self.check_one_phone(self.phone)
            self.check_audit()
        except DatabaseError as err:
            self.add(
                "user_phones",
                "User phones",
                FAIL,
                f"the database cannot be read ({type(err).__name__})",
                "check DATABASES and run manage.py migrate",
            )

    def check_one_phone(self, value: str) -> None:
        from .resolvers import resolve

        title = "Phone lookup"
        try:
            phone = normalize_phone(value)
        except InvalidPhoneNumber as err:
            self.add(
                "phone_lookup",
                title,
                FAIL,
                f"cannot read the number: {err}",
                "pass it as +<country code><number> (what WhatsApp sends)",
            )
            return
        # resolve(), as a login does: it tells several users (the default resolver's shared
        # number, a custom resolver's AmbiguousPhone) from nobody.
        user, reason = resolve(phone, attempt=None, request=None, message=None)
        shared = reason == "several_users"
        if app_settings.USER_RESOLVER == DEFAULT_RESOLVER:
            store = (
                f"store {mask_phone(phone)} exactly in E.164 (+<digits>, no spaces) in the "
                f"user's {app_settings.PHONE_FIELD!r} field (manage.py "
                "whatsapp_login_normalize_phones rewrites existing ones)"
            )
        else:
            store = (
                f"check where {app_settings.USER_RESOLVER} looks the number up; it must hold "
                f"{mask_phone(phone)} in E.164"
            )
        if shared:
            self.add(
                "phone_lookup",
                title,
                FAIL,
                f"{mask_phone(phone)} belongs to several users: nobody can log in with it",
                "keep the number on one account only",
            )
        elif user is None:
            self.add(
                "phone_lookup",
                title,
                FAIL,
                f"phone not in the database: the resolver finds no user for {mask_phone(phone)}",
                store,
            )
        else:
            self.add(
                "phone_lookup",
                title,
                PASS,
                f"{mask_phone(phone)} belongs to user id {getattr(user, 'pk', '?')}",
            )

    def check_audit(self) -> None:
        from .phone_audit import NOT_E164, CannotCount, audit_phones

        title = "User phones"
        try:
            report = audit_phones()
        except CannotCount:
            self.add(
                "user_phones",
                title,
                SKIP,
                f"cannot count who can log in: the resolver {app_settings.USER_RESOLVER} has "
                "no reachable_users hook (see docs/resolvers.md); test a number with --phone",
            )
            return
        except WhatsAppLoginImproperlyConfigured as err:
            self.add(
                "user_phones",
                title,
                FAIL,
                str(err),
                "set WHATSAPP_LOGIN_PHONE_FIELD to the user model's phone field",
            )
            return
        summary = (
            f"{report.reachable} of {report.total} users can log in "
            f"({report.empty} without a phone, {report.inactive} inactive)"
        )
        if not report.field:
            summary += f", as listed by {report.model}.reachable_users()"
        problems = []
        for issue in report.unusable[:10]:
            if issue.problem == NOT_E164:
                problems.append(
                    f"user {issue.pk}: {issue.masked} is not stored as E.164 "
                    f"(store {issue.normalized_masked}: {issue.change})"
                )
            else:
                problems.append(
                    f"user {issue.pk}: {issue.masked} is not a phone number it can read"
                )
        for shared in report.shared[:10]:
            problems.append(
                f"{shared.masked} is shared by users " + ", ".join(str(pk) for pk in shared.pks)
            )
        more = len(report.unusable) + len(report.shared) - len(problems)
        if more > 0:
            problems.append(f"and {more} more")
        fix = (
            "store every phone in E.164 (+<digits>), one account per number: "
            "manage.py whatsapp_login_normalize_phones (set WHATSAPP_LOGIN_DEFAULT_REGION for "
            "national formats)"
        )
        if report.reachable == 0:
            self.add(
                "user_phones",
                title,
                FAIL,
                "phone not in the database: no user has a usable phone. "
                + summary
                + ("; " + "; ".join(problems) if problems else ""),
                fix,
            )
        elif problems:
            self.add("user_phones", title, WARN, summary + "; " + "; ".join(problems), fix)
        else:
            self.add("user_phones", title, PASS, summary)

    # --- the delivery self-test ----------------------------------------------------------------


def run(**options: Any) -> Report:
    return Doctor(**options).run()


#: Names that lived here before the Green API checks had a module of their own.
_MOVED = frozenset(
    {"CONSOLE", "STATES", "authorization_header", "is_webhook_path", "webhook_url_problem"}
)


def __getattr__(name: str) -> Any:
    # The old import paths (django_whatsapp_login.doctor.webhook_url_problem...) keep
    # working; the Green API checks import this module, so they are looked up on use.
    if name in _MOVED:
        from .gateways.greenapi import checks

        return getattr(checks, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
