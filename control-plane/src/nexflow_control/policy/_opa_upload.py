"""Putting one policy source into an OPA server through its REST API, or nothing of it.

What the control plane owns on the server, and nothing else:

- one module per Rego package, id ``nexflow-control/<package>`` (see ``_opa_modules``);
- the top-level keys of the policy data (``data.nexflow`` for the shipped policies);
- ``data.nexflow_control`` = ``{"revision", "modules", "data_keys"}``: which source the
  server holds, so that a restarted control plane can remove what it no longer has and
  an engine can notice that the server lost its state (an OPA restart).

``apply`` writes the modules first (OPA compiles on every PUT; a module rejected in one
order may compile in another, so each pass retries what failed until a pass makes no
progress), then the data and the marker in one PATCH (atomic in OPA). When anything
is refused it puts the previous source back and raises ``PolicyLoadError``; when even
that fails it raises ``ServerStateUnknown``.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

import aiohttp
from opa_client import AsyncOpaClient
from opa_client.errors import (
    DeleteDataError,
    DeletePolicyError,
    PatchDataError,
    PolicyNotFoundError,
    RegoParseError,
)

from ._errors import PolicyLoadError, PolicyUnavailable
from ._opa_modules import MODULE_PREFIX, PackageModule, package_modules
from ._source import PolicySource

MARKER_KEY = "nexflow_control"
"""The top-level data key the control plane keeps its marker in (reserved)."""

_MAX_ERRORS = 5


class ServerStateUnknown(PolicyUnavailable):
    """An upload failed and so did putting the previous source back."""


@dataclass(frozen=True, slots=True)
class Uploaded:
    """What one successful ``apply`` left on the server."""

    revision: str
    modules: dict[str, PackageModule]
    data_keys: tuple[str, ...]


class _Rejected(Exception):
    """The server refused one module operation; ``str()`` says why, with file:line."""


def _pointer(key: str) -> str:
    return "/" + key.replace("~", "~0").replace("/", "~1")


def _describe(exc: Exception, module: PackageModule | None) -> str:
    if isinstance(exc, RegoParseError) and exc.errors:
        parts, parse_error_in = [], None
        for err in exc.errors[:_MAX_ERRORS]:
            where = ""
            location = err.get("location") if isinstance(err, dict) else None
            if module is not None and isinstance(location, dict):
                row = int(location.get("row", 1))
                where = module.locate(row) + ": "
                if err.get("code") == "rego_parse_error":
                    parse_error_in = module.previous_file(row)
            parts.append(f"{where}{err.get('code', 'error')}: {err.get('message', '')}")
        more = len(exc.errors) - _MAX_ERRORS
        text = "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")
        if parse_error_in:
            text += (
                f" (the files of a package are joined for OPA: the cause may be an "
                f"unterminated statement at the end of {parse_error_in})"
            )
        return text
    message = getattr(exc, "message", None)
    code = getattr(exc, "expression", None)
    return f"{code}: {message}" if message else (str(exc) or type(exc).__name__)


class OpaUploader:
    """Writes policy sources into one OPA server (the client must be open)."""

    def __init__(self, client: AsyncOpaClient, url: str) -> None:
        """Use ``client`` (opa-python-client) for every request to the server at ``url``."""
        self._client = client
        self._url = url

    async def marker(self) -> dict[str, Any] | None:
        """The marker the server holds, or None when it holds none."""
        try:
            body = await self._client.get_data(MARKER_KEY)
        except PolicyNotFoundError:
            return None
        value = body.get("result") if isinstance(body, dict) else None
        return value if isinstance(value, dict) else None

    async def _our_module_ids(self) -> set[str]:
        ids = await self._client.get_policies_list()
        return {i for i in ids if isinstance(i, str) and i.startswith(MODULE_PREFIX)}

    async def _put(self, module: PackageModule) -> None:
        try:
            await self._client.update_policy_from_string(
                module.text, module.module_id, rego_compat=False
            )
        except RegoParseError as exc:
            raise _Rejected(_describe(exc, module)) from exc

    async def _delete(self, module_id: str) -> None:
        try:
            await self._client.delete_policy(module_id)
        except DeletePolicyError as exc:
            raise _Rejected(f"removing module {module_id}: {_describe(exc, None)}") from exc

    async def _converge(self, target: dict[str, PackageModule]) -> None:
        """Make our modules on the server exactly ``target``; raise _Rejected."""
        present = await self._our_module_ids()
        pending: list[tuple[str, PackageModule | None]] = [(i, target[i]) for i in sorted(target)]
        pending += [(i, None) for i in sorted(present - set(target))]
        while pending:
            failed: list[tuple[str, PackageModule | None]] = []
            first_error: _Rejected | None = None
            for module_id, module in pending:
                try:
                    await (self._put(module) if module else self._delete(module_id))
                except _Rejected as exc:
                    failed.append((module_id, module))
                    first_error = first_error or exc
            if first_error is not None and len(failed) == len(pending):
                raise first_error
            pending = failed

    async def _write_data(self, source: PolicySource, modules: dict[str, PackageModule]) -> None:
        marker = {
            "revision": source.revision,
            "modules": sorted(modules),
            "data_keys": sorted(source.data),
        }
        ops = [{"op": "add", "path": _pointer(k), "value": v} for k, v in source.data.items()]
        ops.append({"op": "add", "path": _pointer(MARKER_KEY), "value": marker})
        try:
            await self._client.patch_data("", ops)
        except PatchDataError as exc:
            raise _Rejected(f"data.json: {_describe(exc, None)}") from exc

    async def _drop_data(self, keys: set[str]) -> None:
        for key in sorted(keys):
            with contextlib.suppress(DeleteDataError):  # already gone: nothing to remove
                await self._client.delete_data(key)

    async def apply(self, source: PolicySource, previous: Uploaded | None) -> Uploaded:
        """Put ``source`` on the server; on refusal restore ``previous`` and raise."""
        if MARKER_KEY in source.data:
            raise PolicyLoadError(f"data key {MARKER_KEY!r} is reserved for the control plane")
        modules = package_modules(source.modules)
        try:
            old_marker = await self.marker()
            try:
                await self._converge(modules)
                await self._write_data(source, modules)
            except _Rejected as exc:
                await self._restore(previous, str(exc))
                raise PolicyLoadError(f"the OPA server refused the policy: {exc}") from None
            stale = set(previous.data_keys) if previous else set()
            if old_marker and isinstance(old_marker.get("data_keys"), list):
                stale |= {k for k in old_marker["data_keys"] if isinstance(k, str)}
            await self._drop_data(stale - set(source.data))
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise PolicyUnavailable(f"cannot upload the policy to {self._url}: {exc!r}") from exc
        return Uploaded(source.revision, modules, tuple(sorted(source.data)))

    async def _restore(self, previous: Uploaded | None, why: str) -> None:
        if previous is None:
            return  # nothing was active: the caller refuses to start
        try:
            await self._converge(previous.modules)
        except _Rejected as exc:
            raise ServerStateUnknown(
                f"the OPA server refused the new policy ({why}) and then the previous one "
                f"({exc}); it decides nothing until a policy uploads cleanly"
            ) from None
