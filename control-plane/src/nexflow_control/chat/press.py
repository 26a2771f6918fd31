"""A human's tap on an approval button in a chat, relayed by the gateway (`approvals:relay`).

The relaying token decides nothing. The press is checked in this order: the pressing
identity is linked to a user (403 `identity_not_linked`); the nonce was minted for this
approval and this chat, is unexpired and unspent (403 `nonce_invalid`, 409 `nonce_used`);
then the approval is decided through `ApprovalService.decide` as that user, from that
chat — the approver policy judges them as it judges anyone (403 `policy_denied`, e.g. not
an approver or approving one's own call), and the audit records the user, the chat, the
identity and the relaying token. A refused press gives its nonce back.
"""

from __future__ import annotations

from ..accounts import AccountStore
from ..approvals import Approval
from ..approvals.service import ApprovalService
from ..auth import Principal
from ..errors import PolicyDenied
from .identity import linked_principal, without_scopes
from .nonces import ChatNonces


async def relay_press(
    approvals: ApprovalService,
    accounts: AccountStore,
    nonces: ChatNonces,
    relay: Principal,
    *,
    approval_id: str,
    identity: str,
    channel: str,
    approve: bool,
    nonce: str,
) -> Approval:
    presser = without_scopes(await linked_principal(accounts, identity, channel, relay))
    await nonces.claim(nonce, approval_id, presser.channel, presser.identity or identity)
    try:
        return await approvals.decide(approval_id, presser, approve=approve, comment=None)
    except PolicyDenied:
        await nonces.release(nonce)
        raise
