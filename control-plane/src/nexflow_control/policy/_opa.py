"""A policy engine that asks an OPA server (``policy.opa_url``) over its REST API.

How the server gets the control plane's policy, and how a decision knows its revision:
the control plane is the only writer. On start and on every reload the engine reads the
policy directory (``read_policy_dir``, the same files, data and sha256 revision as the
embedded engine) and uploads it through OPA's REST API (``_opa_upload``: one module per
package, the data, and a marker ``data.nexflow_control.revision``). The revision a
decision carries is the revision of the last upload the server accepted. Uploads and
decisions exclude each other (a read/write gate), so no decision of this engine can be
answered by a half-written server. One OPA server per policy directory: control planes
with different directories must not share one server.

Decisions are ``POST /v1/data/nexflow/authz/decision`` (``query_rule`` of
opa-python-client), parsed by the same ``decision_or_undefined`` as the embedded engine,
so both give identical ``Decision`` objects. Failing closed:

- connection refused, HTTP errors (an evaluation error is HTTP 500), answers that are
  not JSON, and no answer within ``timeout_ms`` raise ``PolicyUnavailable``;
- an undefined decision is a ``policy_undefined`` deny, as in the embedded engine. It is
  also how a restarted, empty server looks: the engine then checks the marker and, if the
  server lost the policy, uploads it again once and asks again.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from opa_client import AsyncOpaClient

from ._approver import APPROVER_ENTRYPOINT, ApproverDecision, approver_or_undefined
from ._cache import RATE_CAPS_ENTRYPOINT, DecisionCache, InputView, RateCaps, parse_rate_caps
from ._decision import MALFORMED_INPUT, POLICY_UNDEFINED, Decision, decision_or_undefined
from ._engine import ENTRYPOINT, ReloadResult
from ._errors import PolicyLoadError, PolicyUnavailable
from ._input import encode_input
from ._opa_upload import OpaUploader, Uploaded
from ._source import Overlay, PolicySource, read_policy_dir

_PACKAGE, _RULE = ENTRYPOINT.rsplit("/", 1)
_APPROVER_RULE = APPROVER_ENTRYPOINT.rsplit("/", 1)[1]
_RATE_CAPS_RULE = RATE_CAPS_ENTRYPOINT.rsplit("/", 1)[1]
UPLOAD_TIMEOUT_S = 30.0
"""How long one upload request may take (OPA compiles the whole policy on each)."""


def _client(url: str, token: str | None, timeout_s: float) -> AsyncOpaClient:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PolicyLoadError(f"policy.opa_url {url!r} is not an http(s)://host:port URL")
    if parts.path not in ("", "/") or parts.query:
        raise PolicyLoadError(f"policy.opa_url {url!r} must not have a path or query")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return AsyncOpaClient(
        host=host,
        port=port,
        ssl=parts.scheme == "https",
        token=token,
        retries=0,  # fail closed now rather than retry into the caller's deadline
        timeout=timeout_s,
    )


class _Gate:
    """Many decisions at once, or one upload alone."""

    def __init__(self) -> None:
        self._readers = 0
        self._no_readers = asyncio.Event()
        self._no_readers.set()
        self._no_writer = asyncio.Event()
        self._no_writer.set()
        self._writer = asyncio.Lock()

    async def enter_read(self) -> None:
        while not self._no_writer.is_set():
            await self._no_writer.wait()
        self._readers += 1
        self._no_readers.clear()

    def exit_read(self) -> None:
        self._readers -= 1
        if self._readers == 0:
            self._no_readers.set()

    @contextlib.asynccontextmanager
    async def writing(self) -> Any:
        async with self._writer:
            self._no_writer.clear()
            try:
                await self._no_readers.wait()
                yield
            finally:
                self._no_writer.set()


class OpaServerEngine:
    """Decides with an OPA server; build it with ``await OpaServerEngine.connect(...)``."""

    def __init__(
        self,
        url: str,
        policy_dir: Path,
        *,
        timeout_ms: int,
        token: str | None = None,
        overlay: Overlay | None = None,
        cache_size: int = 0,
    ) -> None:
        """Prepare the clients; ``connect`` opens them and uploads the policy.
        ``cache_size`` > 0 caches decisions (see ``_cache``); off by default, because a
        hit does not reach the server, and a server that is down must stop calls."""
        self._overlay = overlay
        self.cache = DecisionCache(cache_size)
        self._view = InputView()
        if timeout_ms <= 0:
            raise PolicyLoadError("policy.opa_timeout_ms must be positive")
        self._url = url.rstrip("/")
        self._dir = policy_dir
        self._timeout_s = timeout_ms / 1000
        self._query = _client(self._url, token, self._timeout_s)
        self._admin = _client(self._url, token, UPLOAD_TIMEOUT_S)
        self._stack = contextlib.AsyncExitStack()
        self._uploader = OpaUploader(self._admin, self._url)
        self._gate = _Gate()
        self._active: Uploaded | None = None
        self._source: PolicySource | None = None
        self._broken: str | None = None
        self._rate_caps = False  # whether the policy answers decision_and_rate_caps

    @classmethod
    async def connect(
        cls,
        url: str,
        policy_dir: Path,
        *,
        timeout_ms: int = 1000,
        token: str | None = None,
        overlay: Overlay | None = None,
        cache_size: int = 0,
    ) -> OpaServerEngine:
        """Upload ``policy_dir`` to the server at ``url``.

        Raises PolicyLoadError when the policy cannot be read or the server refuses it,
        PolicyUnavailable when the server cannot be reached.
        """
        engine = cls(
            url,
            policy_dir,
            timeout_ms=timeout_ms,
            token=token,
            overlay=overlay,
            cache_size=cache_size,
        )
        try:
            await engine._stack.enter_async_context(engine._query)
            await engine._stack.enter_async_context(engine._admin)
            source = await asyncio.to_thread(read_policy_dir, policy_dir, overlay)
            async with engine._gate.writing():
                engine._active = await engine._uploader.apply(source, None)
                engine._source, engine._view = source, InputView.from_data(source.data)
            await engine._probe_rate_caps()
        except BaseException:
            await engine.close()
            raise
        return engine

    @property
    def revision(self) -> str:
        """``sha256:<hex>`` of the policy the server holds (the last accepted upload)."""
        assert self._active is not None, "use OpaServerEngine.connect()"
        return self._active.revision

    @property
    def policy_dir(self) -> Path:
        """The directory the policies are uploaded from."""
        return self._dir

    @property
    def url(self) -> str:
        """The OPA server's base URL."""
        return self._url

    async def decide(self, input: dict[str, Any]) -> Decision:
        """Evaluate the decision for one call (cached by what the policy sees, ``_cache``);
        raise PolicyUnavailable on server failure."""
        prepared = self._view.prepare(input)
        if prepared is None:
            return Decision.deny(MALFORMED_INPUT, "the input is not a JSON object", self.revision)
        cached = self.cache.find(self.revision, prepared)
        if cached is not None:
            return cached
        # The caps are worth their evaluation only to a cache that keeps them.
        rule = _RATE_CAPS_RULE if self._rate_caps and self.cache.max_entries else _RULE
        if self._broken is not None:
            await self._repair(force=False)
        found, value, revision = await self._ask(prepared.seen, rule)
        if not found and await self._server_lost_policy():
            await self._repair(force=True)
            found, value, revision = await self._ask(prepared.seen, rule)
        if not found and rule == _RATE_CAPS_RULE:  # a reload raced us to a policy without it
            rule = _RULE
            found, value, revision = await self._ask(prepared.seen, rule)
        caps: RateCaps | None = None
        if found and rule == _RATE_CAPS_RULE:
            both = value if isinstance(value, dict) else {}
            found, value = "decision" in both, both.get("decision")
            caps = parse_rate_caps(both.get("rate_caps"))
        if not found:
            return Decision.deny(POLICY_UNDEFINED, "the policy decision is undefined", revision)
        decision = decision_or_undefined(value, revision)
        # Keyed by the revision that evaluated exactly `seen`: sound even across a reload.
        self.cache.keep(revision, prepared, decision, caps)
        return decision

    async def _probe_rate_caps(self) -> None:
        """Learn whether the uploaded policy answers ``decision_and_rate_caps`` (defined
        even for an empty input when it has the rule)."""
        found, _, _ = await self._ask({}, _RATE_CAPS_RULE)
        self._rate_caps = found

    async def approve(self, input: dict[str, Any]) -> ApproverDecision:
        """Whether ``input.principal`` may decide the pending call ``input.request``."""
        if encode_input(input) is None:
            return ApproverDecision.refuse(
                MALFORMED_INPUT, "the input is not a JSON object", self.revision
            )
        if self._broken is not None:
            await self._repair(force=False)
        found, value, revision = await self._ask(input, _APPROVER_RULE)
        if not found and await self._server_lost_policy():
            await self._repair(force=True)
            found, value, revision = await self._ask(input, _APPROVER_RULE)
        return approver_or_undefined(value if found else None, revision)

    async def _ask(self, input: dict[str, Any], rule: str = _RULE) -> tuple[bool, Any, str]:
        """(defined, value, revision) of the entry point ``rule`` for ``input``."""
        await self._gate.enter_read()
        try:
            if self._broken is not None:
                raise PolicyUnavailable(self._broken)
            revision = self.revision
            body = await self._post(input, rule)
        finally:
            self._gate.exit_read()
        if not isinstance(body, dict):
            raise PolicyUnavailable(f"the OPA server at {self._url} answered no JSON object")
        return "result" in body, body.get("result"), revision

    async def _post(self, input: dict[str, Any], rule: str) -> Any:
        where = f"the OPA server at {self._url}"
        try:
            async with asyncio.timeout(self._timeout_s):
                return await self._query.query_rule(input, _PACKAGE, rule)
        except TimeoutError:
            ms = round(self._timeout_s * 1000)
            raise PolicyUnavailable(f"{where} did not answer within {ms} ms") from None
        except aiohttp.ClientResponseError as exc:
            raise PolicyUnavailable(f"{where} answered HTTP {exc.status} {exc.message}") from None
        except aiohttp.ClientConnectionError as exc:
            raise PolicyUnavailable(f"cannot reach {where}: {exc}") from None
        except (aiohttp.ClientError, ValueError) as exc:
            raise PolicyUnavailable(f"{where} gave a bad answer: {exc!r}") from None

    async def document(self, input: dict[str, Any], package: str) -> Any:
        """The value of ``data.<package>`` for ``input`` (explanations; None if undefined)."""
        await self._gate.enter_read()
        try:
            body = await self._query.query_rule(input, package)
        except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
            raise PolicyUnavailable(f"the OPA server at {self._url} failed: {exc!r}") from None
        finally:
            self._gate.exit_read()
        return body.get("result") if isinstance(body, dict) else None

    async def _server_lost_policy(self) -> bool:
        """Whether the server no longer holds the active upload (e.g. OPA restarted)."""
        try:
            async with asyncio.timeout(self._timeout_s):
                marker = await self._uploader.marker()
        except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
            raise PolicyUnavailable(
                f"cannot read the policy marker at {self._url}: {exc!r}"
            ) from None
        return marker is None or marker.get("revision") != self.revision

    async def _repair(self, *, force: bool) -> None:
        """Upload the active source again; raise PolicyUnavailable while that fails."""
        async with self._gate.writing():
            if (self._broken is None and not force) or self._source is None:
                return
            try:
                self._active = await self._uploader.apply(self._source, None)
            except (PolicyLoadError, PolicyUnavailable) as exc:
                self._broken = f"the OPA server does not hold the active policy: {exc}"
                raise PolicyUnavailable(self._broken) from None
            self._broken = None

    async def reload(self) -> ReloadResult:
        """Read the directory and upload it; on failure the server keeps the old policy."""
        previous = self.revision
        try:
            source = await asyncio.to_thread(read_policy_dir, self._dir, self._overlay)
        except PolicyLoadError as exc:
            return ReloadResult(False, previous, previous, str(exc))
        async with self._gate.writing():
            try:
                self._active = await self._uploader.apply(source, self._active)
            except PolicyLoadError as exc:  # refused; the previous policy is back in place
                return ReloadResult(False, previous, previous, str(exc))
            except PolicyUnavailable as exc:  # unreachable mid-way, or could not restore
                self._broken = f"the last policy upload did not complete: {exc}"
                return ReloadResult(False, previous, previous, str(exc))
            self._source, self._broken = source, None
            self._view = InputView.from_data(source.data)
            self.cache.clear()
            self._rate_caps = False  # until the probe below answers for the new policy
        # Unreachable now: decisions still work (by the decision rule); a reload asks again.
        with contextlib.suppress(PolicyUnavailable):
            await self._probe_rate_caps()
        return ReloadResult(True, self.revision, previous)

    async def close(self) -> None:
        """Close the HTTP sessions (the server keeps the policy)."""
        await self._stack.aclose()
