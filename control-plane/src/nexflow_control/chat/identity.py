"""Who a chat gateway acts for: the `X-Nexflow-On-Behalf-Of` identity, mapped to its user.

A token with `calls:run_as` that names an identity (`provider:subject`, e.g.
`telegram:123`) and a channel (`X-Nexflow-Channel: telegram:<chat_id>`) becomes the linked
user's principal: the user's roles, only `calls:run` and `skills:read`, the chat as its
channel, the gateway's token as `token_id` (the acting credential) and the identity. An
identity linked to nobody (or to a disabled user) is 403 `identity_not_linked`: the
gateway answers such a sender with a pairing code and nothing else.
"""

from __future__ import annotations

import dataclasses
import re

from ..accounts import AccountStore, Scope
from ..accounts.validate import identity as valid_identity
from ..auth import Principal
from ..errors import IdentityNotLinked, InvalidInput

ON_BEHALF_OF = "x-nexflow-on-behalf-of"
CHANNEL = "x-nexflow-channel"
RUN_AS_SCOPES = frozenset({Scope.CALLS_RUN, Scope.SKILLS_READ})
"""What a gateway may do as a linked user: run skills and read them; never approve."""

_CHANNEL = re.compile(r"[a-z][a-z0-9_-]{0,31}(:[\w.\-:@]{1,128})?")


def split_identity(value: str, field: str = ON_BEHALF_OF) -> tuple[str, str]:
    """`provider:subject` as its two parts, or 422 `invalid_identity` naming `field`."""
    provider, sep, subject = value.partition(":")
    try:
        if not sep:
            raise InvalidInput("expected provider:subject")
        return valid_identity(provider, subject)
    except InvalidInput as exc:
        raise InvalidInput(
            f"{field}: {value[:80]!r} is not an identity provider:subject ({exc.message})",
            code="invalid_identity",
            field=field,
        ) from None


def checked_channel(value: str | None, provider: str, field: str = CHANNEL) -> str:
    """The chat a request comes from (`telegram:<chat_id>`); the provider alone if none."""
    if value is None or value == "":
        return provider
    if not _CHANNEL.fullmatch(value):
        raise InvalidInput(
            f"{field}: {value[:80]!r} is not a channel (provider[:chat])",
            code="invalid_channel",
            field=field,
        )
    return value


async def linked_principal(
    accounts: AccountStore, identity: str, channel: str | None, acting: Principal
) -> Principal:
    """The principal of the user `identity` is linked to, acting through `acting`'s
    token from `channel`; `IdentityNotLinked` if there is none."""
    provider, subject = split_identity(identity)
    user = await accounts.user_for_identity(provider, subject)
    if user is None:
        raise IdentityNotLinked(
            f"{provider}:{subject} is not linked to a user; pair it first",
            identity=f"{provider}:{subject}",
        )
    return Principal(
        user.name,
        user.roles,
        channel=checked_channel(channel, provider),
        scopes=RUN_AS_SCOPES,
        user_id=user.id,
        token_id=acting.token_id or acting.id,
        identity=f"{provider}:{subject}",
    )


def without_scopes(principal: Principal) -> Principal:
    """`principal` with no scopes: a presser is judged by the approver policy alone."""
    return dataclasses.replace(principal, scopes=frozenset())
