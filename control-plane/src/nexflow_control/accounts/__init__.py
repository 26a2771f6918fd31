"""Accounts: users with roles, scoped API tokens (hashed), and identity links.

    store.AccountStore  open / users / tokens / identities / authenticate
    authn               how a presented token is checked (and last use recorded)
    records             User, Token, Identity, Credential, Actor (what the store returns)
    scopes              Scope, DEFAULT_SCOPES, ALL_SCOPES (what a token may do)
    tokens              the `nxf_<id>_<secret>` format and its sha256
    validate            what names, roles, scopes, identities and expiries may be
    models / rows       the tables (own MetaData, in the shared `db.Database`); reads
    _db                 reads, audited changes, lower errors mapped to ours

Roles are stored here but defined in policy data (`policies/data.json`); scopes are
checked by the HTTP routes before anything else runs.
"""

from .records import Actor, Credential, Identity, Token, User
from .scopes import ALL_SCOPES, DEFAULT_SCOPES, Scope
from .store import AccountStore
from .tokens import PREFIX as TOKEN_PREFIX
from .validate import expiry as parse_expiry

__all__ = [
    "ALL_SCOPES",
    "DEFAULT_SCOPES",
    "TOKEN_PREFIX",
    "AccountStore",
    "Actor",
    "Credential",
    "Identity",
    "Scope",
    "Token",
    "User",
    "parse_expiry",
]
