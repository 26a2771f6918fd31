"""`nexflow up --allow-host`: a data overlay that extends the allowlist and the revision."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from nexflow_control.policy import EmbeddedEngine, policy_revision, read_policy_dir
from nexflow_control.settings import PolicySettings
from pydantic import ValidationError

POLICIES = Path(__file__).resolve().parents[3] / "policies"
NEXFLOW = Path(sys.executable).with_name("nexflow")


def test_overlay_extends_the_allowlist_and_changes_the_revision() -> None:
    """Allowed hosts are appended, the rest of the data is kept, the revision differs."""
    overlay = PolicySettings(allow_hosts=["API.test", "*.example.org:443"]).overlay()
    plain, laid = read_policy_dir(POLICIES), read_policy_dir(POLICIES, overlay)
    network = laid.data["nexflow"]["config"]["network"]
    assert network["allowed_hosts"] == ["api.test", "*.example.org:443"]
    assert laid.data["nexflow"]["config"]["roles"] == plain.data["nexflow"]["config"]["roles"]
    assert laid.revision != plain.revision == policy_revision(POLICIES)
    assert laid.revision == policy_revision(POLICIES, overlay)


async def test_engine_with_overlay_grants_the_host(inputs) -> None:
    """The embedded engine built with the overlay grants an allowed URL host."""
    overlay = PolicySettings(allow_hosts=["api.test"]).overlay()
    value = inputs(roles=["operator"], permissions=["network"])
    value["call"]["hosts"] = [{"field": "url", "host": "api.test", "port": 443}]
    assert not (await EmbeddedEngine(POLICIES).decide(value)).allow
    decision = await EmbeddedEngine(POLICIES, overlay).decide(value)
    assert decision.allow and decision.grants.network == ("api.test:443",)


@pytest.mark.parametrize("bad", ["http://x", "a b", "host:", "*"])
def test_malformed_allow_host_is_refused(bad: str) -> None:
    """A malformed host is a validation error naming it."""
    with pytest.raises(ValidationError, match="is not HOST"):
        PolicySettings(allow_hosts=[bad])


def test_up_refuses_a_malformed_allow_host(tmp_path: Path) -> None:
    """`nexflow up --allow-host 'a b'` exits 2 with one clear line, before starting anything."""
    done = subprocess.run(
        [str(NEXFLOW), "up", "--home", str(tmp_path), "--allow-host", "a b"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert "--allow-host" in done.stderr and "Traceback" not in done.stderr
