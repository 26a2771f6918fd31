"""A policy engine that evaluates Rego in-process with regopy (rego-cpp).

The policy directory is compiled once into a bundle on load and on every reload;
each decision only sets the input and runs the bundle's entry point. Decisions are
cached by the input the policy sees, rate counts below their caps left out (``_cache``);
a miss evaluates in a worker thread (a few milliseconds of rego-cpp with the GIL
released), off the event loop, and so does every approver question.

One regopy ``Interpreter`` is not safe to share between threads: the input is state of
the interpreter (``set_input`` then ``query``), and ctypes releases the GIL inside the
library, so two threads could interleave. A lock serialises evaluations for callers that
do use threads; on the event loop it is never contended.
"""

from __future__ import annotations

import asyncio
import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._approver import APPROVER_ENTRYPOINT, ApproverDecision, approver_or_undefined
from ._cache import (
    DEFAULT_CACHE_SIZE,
    RATE_CAPS_ENTRYPOINT,
    DecisionCache,
    InputView,
    Prepared,
    RateCaps,
    parse_rate_caps,
)
from ._decision import MALFORMED_INPUT, POLICY_UNDEFINED, Decision, decision_or_undefined
from ._engine import ENTRYPOINT, ReloadResult
from ._errors import PolicyLoadError, PolicyUnavailable
from ._input import encode_input
from ._regopy import rego_shared, regopy
from ._source import Overlay, PolicySource, read_policy_dir


@dataclass(frozen=True, slots=True)
class _Compiled:
    """One compiled policy bundle and the interpreter that evaluates it."""

    bundle: regopy.Bundle
    runner: regopy.Interpreter
    revision: str
    view: InputView
    rate_caps: bool
    """Whether the policy answers ``decision_and_rate_caps`` (asked instead of the decision)."""


def _compile(source: PolicySource) -> _Compiled:
    """Compile a policy source into a bundle with the decision and approver entry points."""
    builder = regopy.Interpreter()
    try:
        for name, text in sorted(source.modules.items()):
            builder.add_module(name, text)
        builder.add_data(source.data)
        bundle = builder.build(None, [ENTRYPOINT, APPROVER_ENTRYPOINT, RATE_CAPS_ENTRYPOINT])
    except regopy.RegoError as exc:
        raise PolicyLoadError(f"policy does not compile: {exc}") from exc
    if not bundle.ok():
        raise PolicyLoadError("policy does not compile: the bundle is not ok")
    runner = regopy.Interpreter()
    view = InputView.from_data(source.data)
    probe = _Compiled(bundle, runner, source.revision, view, rate_caps=False)
    try:  # a policy without the rule answers undefined, even for an empty input
        ok, output = _evaluate(probe, "{}", RATE_CAPS_ENTRYPOINT)
        offers = ok and output.strip() != "undefined"
    except regopy.RegoError:
        offers = False
    return _Compiled(bundle, runner, source.revision, view, rate_caps=offers)


def _load(directory: Path, overlay: Overlay | None = None) -> _Compiled:
    return _compile(read_policy_dir(directory, overlay))


def _evaluate(active: _Compiled, input_text: str, entrypoint: str = ENTRYPOINT) -> tuple[bool, str]:
    """Run an entry point; return (ok, output JSON text).

    Uses regopy's C-API layer rather than ``query_bundle_entrypoint`` because the latter
    also parses the output into Python (once more than needed, on the hot path) and raises
    a bare JSONDecodeError when rego-cpp embeds an error term in a value.
    """
    runner = active.runner
    runner.set_input_term(input_text)
    impl = rego_shared.rego_bundle_query_entrypoint(runner._impl, active.bundle._impl, entrypoint)
    try:
        return bool(rego_shared.rego_output_ok(impl)), rego_shared.rego_output_string(impl)
    finally:
        rego_shared.rego_free_output(impl)


def _first_value(output_text: str) -> Any:
    """The single expression value of an entry-point query, or None when undefined."""
    if output_text.strip() == "undefined":
        return None
    parsed = json.loads(output_text)
    if isinstance(parsed, dict) and isinstance(parsed.get("expressions"), list):
        expressions = parsed["expressions"]
        return expressions[0] if len(expressions) == 1 else None
    return None


def _malformed(revision: str) -> Decision:
    return Decision.deny(MALFORMED_INPUT, "the input is not a JSON object", revision)


class EmbeddedEngine:
    """Evaluates the policies of one directory in-process; see the module docstring."""

    def __init__(
        self,
        policy_dir: Path,
        overlay: Overlay | None = None,
        *,
        cache_size: int = DEFAULT_CACHE_SIZE,
    ) -> None:
        """Compile ``policy_dir`` (with ``overlay`` over its data) now; raise
        PolicyLoadError when it cannot be used. ``cache_size`` 0 caches no decision."""
        self._dir = policy_dir
        self._overlay = overlay
        self._active = _load(policy_dir, overlay)
        self._lock = threading.Lock()
        self.cache = DecisionCache(cache_size)

    @property
    def revision(self) -> str:
        """``sha256:<hex>`` of the active policy bundle."""
        return self._active.revision

    @property
    def policy_dir(self) -> Path:
        """The directory the policies are loaded from."""
        return self._dir

    async def decide(self, input: dict[str, Any]) -> Decision:
        """Evaluate the decision for one call; raise PolicyUnavailable on engine failure.
        A cache hit answers on the loop; a miss evaluates in a worker thread."""
        active = self._active
        prepared = active.view.prepare(input)
        if prepared is None:
            return _malformed(active.revision)
        found = self.cache.find(active.revision, prepared)
        if found is not None:
            return found
        decision, caps = await asyncio.to_thread(self._evaluate_decision, active, prepared)
        self.cache.keep(active.revision, prepared, decision, caps)
        return decision

    def decide_sync(self, input: dict[str, Any]) -> Decision:
        """``decide`` for synchronous callers (CLI, the conformance corpus), cached alike."""
        active = self._active
        prepared = active.view.prepare(input)
        if prepared is None:
            return _malformed(active.revision)
        found = self.cache.find(active.revision, prepared)
        if found is None:
            found, caps = self._evaluate_decision(active, prepared)
            self.cache.keep(active.revision, prepared, found, caps)
        return found

    def _evaluate_decision(
        self, active: _Compiled, prepared: Prepared
    ) -> tuple[Decision, RateCaps | None]:
        """The decision for ``prepared`` and, when the policy offers them, its rate caps."""
        caps = None
        if active.rate_caps:
            both = self._query(active, prepared.text, RATE_CAPS_ENTRYPOINT)
            value = both.get("decision") if isinstance(both, dict) else None
            caps = parse_rate_caps(both.get("rate_caps")) if isinstance(both, dict) else None
        else:
            value = self._query(active, prepared.text, ENTRYPOINT)
        if value is None:
            undefined = Decision.deny(
                POLICY_UNDEFINED, "the policy decision is undefined", active.revision
            )
            return undefined, None
        return decision_or_undefined(value, active.revision), caps

    def _query(self, active: _Compiled, text: str, entrypoint: str) -> Any:
        """The value of ``entrypoint`` for input ``text``, or None when undefined;
        PolicyUnavailable when the engine fails."""
        try:
            with self._lock:
                ok, output_text = _evaluate(active, text, entrypoint)
        except regopy.RegoError as exc:
            raise PolicyUnavailable(f"policy evaluation failed: {exc}") from exc
        if not ok:
            raise PolicyUnavailable(f"policy evaluation failed: {output_text[:500]}")
        try:
            return _first_value(output_text)
        except ValueError:
            return None  # a type error inside a value: rego-cpp embeds "(error ...)" terms

    async def approve(self, input: dict[str, Any]) -> ApproverDecision:
        """Whether ``input.principal`` may decide the pending call ``input.request``."""
        active = self._active
        text = encode_input(input)
        if text is None:
            return ApproverDecision.refuse(
                MALFORMED_INPUT, "the input is not a JSON object", active.revision
            )
        value = await asyncio.to_thread(self._query, active, text, APPROVER_ENTRYPOINT)
        return approver_or_undefined(value, active.revision)

    async def reload(self) -> ReloadResult:
        """Recompile the directory; on failure keep the active bundle and report why."""
        previous = self._active.revision
        try:
            compiled = await asyncio.to_thread(_load, self._dir, self._overlay)
        except PolicyLoadError as exc:
            return ReloadResult(False, previous, previous, str(exc))
        self._active = compiled
        self.cache.clear()
        return ReloadResult(True, compiled.revision, previous)

    async def close(self) -> None:
        """Nothing to release: the bundle lives in this process."""
