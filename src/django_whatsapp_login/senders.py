"""Who sent a message, in a form that does not depend on the gateway.

A gateway's parser (``gateways/greenapi/payloads.py``, ``gateways/cloudapi/payloads.py``)
turns its own fields into a :class:`SenderIds`: every id the delivery carries for the person
who wrote, in canonical form.
Green API gives a personal chat's ``chatId`` and a ``sender`` (a phone ``…@c.us`` and/or a LID
``…@lid``, either side, sometimes empty); the Cloud API will give a ``wa_id``, a business-scoped
user id and maybe a username. Resolution (``identities.resolve_sender``) only sees this type.

Nothing here touches the database.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

from .phone import mask_phone

__all__ = ["BSUID", "LID", "PHONE", "USERNAME", "SenderIds", "WhatsAppId", "read_bsuid"]

#: The kinds of ids (the values of ``models.IdentityKind``).
PHONE = "phone"
LID = "lid"
#: Meta's business-scoped user id (Cloud API ``user_id``, ``"US.13491208655302741918"``):
#: stable for one business portfolio, regenerated when the user changes their phone number.
BSUID = "bsuid"
#: A WhatsApp username, canonical form ``"@maria.lopez"`` (lower case). Users may change it,
#: so it names who wrote but is a weak anchor for an account.
USERNAME = "username"

# "US.13491208655302741918": an ISO country code, a dot, up to 128 alphanumerics.
_BSUID = re.compile(r"[A-Z]{2}\.[0-9A-Za-z]{1,128}")


def read_bsuid(value: object) -> str | None:
    """A business-scoped user id as Meta sends it (``"US.13491208655302741918"``), or
    ``None``."""
    if isinstance(value, str) and _BSUID.fullmatch(value):
        return value
    return None


class WhatsAppId(NamedTuple):
    """One WhatsApp id in canonical form: ``("phone", "+996555000123")`` or
    ``("lid", "120650379300963@lid")``."""

    kind: str
    value: str

    @property
    def masked(self) -> str:
        """The id as logs and the admin may show it: never a full phone number or LID."""
        if self.kind == PHONE:
            return mask_phone(self.value)
        if self.kind == BSUID:
            country, _, rest = self.value.rpartition(".")
            return f"{country}.•••{rest[-4:]}" if len(rest) > 8 else f"{country}.•••"
        if self.kind == USERNAME:
            return f"{self.value[:2]}•••"
        digits = self.value.partition("@")[0]
        return f"•••{digits[-4:]}@{self.kind}" if self.kind == LID else f"•••({self.kind})"


@dataclass(frozen=True)
class SenderIds:
    """Every id one delivery carries for its sender, without repeats, in delivery order.

    ``unreadable`` is true when the gateway named the sender in a form this app cannot read
    (a malformed or oversized id, or a group id inside a personal chat): such a delivery is
    refused rather than half-trusted.
    """

    ids: tuple[WhatsAppId, ...] = ()
    unreadable: bool = False

    @classmethod
    def of(cls, ids: Iterable[WhatsAppId], *, unreadable: bool = False) -> SenderIds:
        return cls(tuple(dict.fromkeys(ids)), unreadable)

    def of_kind(self, kind: str) -> list[str]:
        return [ident.value for ident in self.ids if ident.kind == kind]

    @property
    def phones(self) -> list[str]:
        return self.of_kind(PHONE)

    @property
    def lids(self) -> list[str]:
        return self.of_kind(LID)

    @property
    def bsuids(self) -> list[str]:
        return self.of_kind(BSUID)

    @property
    def usernames(self) -> list[str]:
        return self.of_kind(USERNAME)

    @property
    def phone(self) -> str | None:
        """The sender's phone (E.164) when the delivery carries exactly one."""
        phones = self.phones
        return phones[0] if len(phones) == 1 else None

    @property
    def lid(self) -> str | None:
        """The sender's LID (``<digits>@lid``) when the delivery carries exactly one."""
        lids = self.lids
        return lids[0] if len(lids) == 1 else None

    @property
    def bsuid(self) -> str | None:
        """The sender's business-scoped user id when the delivery carries exactly one."""
        bsuids = self.bsuids
        return bsuids[0] if len(bsuids) == 1 else None

    @property
    def contradictory(self) -> bool:
        """Two different ids of one kind: one person cannot be both, so nobody is trusted."""
        return any(len(self.of_kind(kind)) > 1 for kind in {ident.kind for ident in self.ids})

    @property
    def key(self) -> str:
        """A stable id for rate limits and for recognising the same sender again: the phone
        when there is one, else the LID, else the business-scoped user id (else the first id)."""
        if self.phone:
            return self.phone
        if self.lid:
            return self.lid
        if self.bsuid:
            return self.bsuid
        return self.ids[0].value if self.ids else ""

    @property
    def masked(self) -> str:
        """For log lines: the masked phone, else the masked LID, BSUID or username."""
        for kind in (PHONE, LID, BSUID, USERNAME):
            for ident in self.ids:
                if ident.kind == kind:
                    return ident.masked
        return "•••"
