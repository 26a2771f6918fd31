"""The `secrets:` field of SKILL.md: the names of the secrets a skill asks for.

A top-level list, ``secrets: [github_token, smtp_password]``; each name matches
`SECRET_NAME` (lower case, so that its variable `NEXFLOW_SECRET_<NAME>` in the sandbox
can never collide with another variable: every other name is reserved by its prefix).
Declaring secrets implies the ``secrets`` permission class (a warning when it is not
written down); only the secrets policy grants for one call reach that call.

``optional_secrets: [github_token]`` names secrets the skill can do without (an anonymous
read, a server without a login): one is delivered when the policy grants it and the store
holds it, and its absence never denies or fails the call. Only a delivered one makes the
call a `secrets` call (the permission class and its approval), so an optional secret
implies no permission class in SKILL.md. A name is required or optional, not both.
"""

from __future__ import annotations

import re

from ._context import Checker
from ._diagnostics import Code

SECRET_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
"""A secret's name, in SKILL.md, in the policy data and in the secret store."""
SECRET_ENV_PREFIX = "NEXFLOW_SECRET_"  # noqa: S105 (a variable prefix, not a secret)
MAX_DECLARED = 32  # the executor's limit per call


def secret_env_name(name: str) -> str:
    """The sandbox variable a secret arrives in: github_token -> NEXFLOW_SECRET_GITHUB_TOKEN."""
    return SECRET_ENV_PREFIX + name.upper()


def _read_names(ck: Checker, field: str, taken: tuple[str, ...]) -> tuple[str, ...]:
    names = ck.string_list(ck.doc.frontmatter, field, field)
    out: list[str] = []
    for index, name in enumerate(names):
        where = f"{field}[{index}]"
        if not SECRET_NAME.match(name):
            ck.add(
                where,
                Code.BAD_SECRET_NAME,
                f"{name[:70]!r} is not a secret name (^[a-z][a-z0-9_]{{0,62}}$)",
            )
        elif name in out or name in taken:
            ck.add(where, Code.BAD_VALUE, f"secret {name!r} is listed twice")
        else:
            out.append(name)
    if len(out) + len(taken) > MAX_DECLARED:
        ck.add(field, Code.BAD_VALUE, f"at most {MAX_DECLARED} secrets")
    return tuple(out)


def read_secrets(ck: Checker) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(required, optional) secret names, in order, each once over both lists; errors
    name the entry at fault."""
    required = _read_names(ck, "secrets", ())
    return required, _read_names(ck, "optional_secrets", required)
