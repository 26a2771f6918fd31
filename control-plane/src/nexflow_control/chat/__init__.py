"""Chat identity: who a chat gateway acts for, pairing codes, and approval buttons.

identity    `X-Nexflow-On-Behalf-Of` → the linked user's principal (`calls:run_as`)
pairings    PairingStore: codes for unknown senders, confirmed or rejected by an admin
nonces      ChatNonces: one-time nonces for an approval's buttons in one chat
press       relay_press: a human's tap, checked and decided like any approval
models      the `pairings` and `chat_nonces` tables (revision 0008_chat_identity)
"""

from .identity import linked_principal
from .models import metadata
from .nonces import ChatNonces
from .pairings import Pairing, PairingLimits, PairingStore
from .press import relay_press

__all__ = [
    "ChatNonces",
    "Pairing",
    "PairingLimits",
    "PairingStore",
    "linked_principal",
    "metadata",
    "relay_press",
]
