"""Secrets: sealed at rest, granted by policy per skill and principal, handed to one call.

    SecretStore     create / rotate / delete / listing / reveal (the table `secrets`, each
                    change committed with its `secret.*` audit event)
    SecretBox       AES-256-GCM, the secret's name and version as associated data
    load_or_create_key  the key file in the home (0600), never in the database
    Redactor        a call's secret values, in every form it redacts, out of its output

A call's secrets travel only in its `ExecuteRequest` and arrive in the sandbox as
`NEXFLOW_SECRET_<NAME>` variables; reading them is the audit event `secret.read`
(name, version, call id; never the value).
"""

from ._key import KeyFileError, SealBroken, SecretBox, load_or_create_key
from ._redact import Redactor, forms
from ._store import (
    MAX_VALUE_BYTES,
    Revealed,
    SecretInfo,
    SecretStore,
    SecretsUnavailable,
    check_name,
    check_value,
)

__all__ = [
    "MAX_VALUE_BYTES",
    "KeyFileError",
    "Redactor",
    "Revealed",
    "SealBroken",
    "SecretBox",
    "SecretInfo",
    "SecretStore",
    "SecretsUnavailable",
    "check_name",
    "check_value",
    "forms",
    "load_or_create_key",
]
