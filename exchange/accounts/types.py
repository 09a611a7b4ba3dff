from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import msgspec


class Role(StrEnum):
    INSTITUTION = "institution"
    INVESTOR = "investor"
    OPERATOR = "operator"


SELF_REGISTERING_ROLES = (Role.INSTITUTION, Role.INVESTOR)


class Account(msgspec.Struct, frozen=True):
    id: int
    role: Role
    email: str
    display_name: str
    contact_name: str
    phone: str
    created_at: datetime


class Registration(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    role: str
    email: str
    password: str
    display_name: str
    contact_name: str = ""
    phone: str = ""


class IssuedToken(msgspec.Struct, frozen=True):
    id: int
    name: str
    token: str
    prefix: str


class TokenInfo(msgspec.Struct, frozen=True):
    id: int
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
