"""Calls: one skill call, from the request to its audited result.

    _service    CallService: run (resolve → validate → decide → audit → dispatch → audit),
                pend (approval required), refuse; run_approved / invalidate delegate
    _context    CallParts (the services a call goes through) and CallContext (one call)
    _approved   the approved-call path: re-decide, then dispatch or invalidate
    _dispatch   send to the executor; call.dispatched / call.egress / call.finished
    _requests   the checked input, the policy input and the execution spec (pure)
    _results    CallResult, PendingCall, ApprovalStale, parse_output, new_call_id, and
                the small helpers audit payloads are built from
    _story      call_events, call_summary: a call's story from the audit log
    _running    RunningCalls: the calls in flight here; runs no request waits for
    _output     check_output: a succeeded call's output against its schema
    _cancel     cancel: a running call killed on request (call.cancel_requested)
    _history    CallHistory: recent decisions and versions that ran, from the audit log
    _recovery   end_interrupted_calls: calls a stopped control plane left unfinished

The modules import each other in one direction only (_service → _approved/_cancel →
_dispatch → _context/_requests/_results/_running); protobuf stays behind `executors/`.

Nothing is dispatched unless the events that say why it may run are committed first
("no audit, no execution"); every step that ends a call early is an audit event too.
"""

from ._cancel import Cancelled
from ._context import CallContext, CallParts
from ._history import CallHistory
from ._recovery import end_interrupted_calls, unfinished_calls
from ._requests import execution_spec
from ._results import (
    ApprovalStale,
    CallResult,
    PendingCall,
    StartedCall,
    new_call_id,
    parse_output,
    read_output,
)
from ._secrets import Commit
from ._service import CallService
from ._story import call_events, call_owner, call_summary

__all__ = [
    "ApprovalStale",
    "CallContext",
    "CallHistory",
    "CallParts",
    "CallResult",
    "CallService",
    "Cancelled",
    "Commit",
    "PendingCall",
    "StartedCall",
    "call_events",
    "call_owner",
    "call_summary",
    "end_interrupted_calls",
    "execution_spec",
    "new_call_id",
    "parse_output",
    "read_output",
    "unfinished_calls",
]
