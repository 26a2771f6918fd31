"""bench/enforced.py: what srt and Nexflow's jail enforce, read from their configurations."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
from nexflow_executor.sandbox.base import RunSpec, Runtime
from nexflow_executor.sandbox.nsjail_config import build_config
from nexflow_executor.sandbox.seccomp import kafel_policy, policy_lists
from nexflow_executor.settings import Settings

from bench.enforced import (
    Bwrap,
    _kafel_denied,
    bwrap_of,
    nsjail_rows,
    probe_facts,
    readme_example_config,
    srt_rows,
)
from bench.prestart import LIMITS

README = """# A tool

### Complete Configuration Example

```json
{
  "network": {"allowedDomains": ["github.com", "*.github.com"], "deniedDomains": []},
  "filesystem": {"denyRead": ["~/.ssh"], "allowWrite": [".", "/tmp"], "denyWrite": [".env"]}
}
```

### Other

```json
{"network": {"allowedDomains": ["other.example"]}}
```
"""

BWRAP = [
    "bwrap", "--new-session", "--die-with-parent", "--unshare-net",
    "--bind", "/tmp/claude-http-1.sock", "/tmp/claude-http-1.sock",
    "--setenv", "HTTP_PROXY", "http://user:secret@localhost:3128",
    "--ro-bind", "/", "/", "--bind", "/work/skill", "/work/skill", "--bind", "/tmp", "/tmp",
    "--tmpfs", "/etc/ssh/ssh_config.d", "--ro-bind", "/dev/null", "/work/skill/.env",
    "--dev", "/dev", "--unshare-pid", "--unshare-user", "--cap-drop", "ALL",
    "--cap-add", "CAP_SETFCAP", "--proc", "/proc",
    "--", "/usr/bin/bash", "-c",
    "/pkg/vendor/seccomp/x64/apply-seccomp /usr/bin/bash -c 'python3 run.py'",
]  # fmt: skip


def test_example_config_is_the_json_under_its_heading() -> None:
    """The block under "Complete Configuration Example" is read, not a later one."""
    config = readme_example_config(README)
    assert config["network"]["allowedDomains"] == ["github.com", "*.github.com"]
    assert config["filesystem"]["allowWrite"] == [".", "/tmp"]


@pytest.mark.parametrize(
    "text",
    [
        "# no such section\n```json\n{}\n```\n",
        "### Complete Configuration Example\nno block\n",
        "### Complete Configuration Example\n```json\n[1, 2]\n```\n",
        "### Complete Configuration Example\n```json\n{not json\n```\n",
    ],
)
def test_example_config_refuses_what_is_not_one(text: str) -> None:
    """No section, no block, an array or broken JSON is a ValueError, not a guess."""
    with pytest.raises(ValueError):
        readme_example_config(text)


def test_bwrap_inside_a_shell_string_is_parsed_by_option() -> None:
    """`bash -c 'bwrap ...'` yields its binds, hidden paths, flags, caps and command."""
    bwrap = bwrap_of(["/bin/bash", "-c", shlex.join(BWRAP)])
    assert bwrap.writable == ("/tmp/claude-http-1.sock", "/work/skill", "/tmp")
    assert bwrap.readable == ("/",)
    assert bwrap.masked == ("/work/skill/.env",)
    assert bwrap.hidden == ("/etc/ssh/ssh_config.d",)
    assert {"--unshare-net", "--unshare-pid", "--unshare-user", "--new-session"} <= bwrap.flags
    assert "HTTP_PROXY" not in " ".join(bwrap.flags)  # --setenv's two values are skipped
    assert (bwrap.caps_dropped, bwrap.caps_added) == (("ALL",), ("CAP_SETFCAP",))
    assert bwrap.command[0] == "/usr/bin/bash"
    assert bwrap_of(BWRAP) == bwrap  # bwrap's own argv reads the same


@pytest.mark.parametrize(
    "argv",
    [
        ["/bin/bash", "-c", "echo no sandbox"],
        ["bwrap", "--ro-bind", "/", "/", "true"],
        ["bwrap", "--args", "9", "--", "true"],
        ["bwrap", "--bind", "/tmp"],
    ],
)
def test_bwrap_argv_it_cannot_read_is_refused(argv: list[str]) -> None:
    """No bwrap, no `--`, options on a descriptor, a missing argument: ValueError."""
    with pytest.raises(ValueError):
        bwrap_of(argv)


def test_srt_rows_say_what_its_argv_and_settings_carry() -> None:
    """Writes, reads, egress and seccomp come from the argv; no limit is found in it."""
    rows = srt_rows(readme_example_config(README), bwrap_of(BWRAP), 0)
    assert "/work/skill, /tmp" in rows["filesystem writes"]
    assert ".sock" not in rows["filesystem writes"]
    assert "whole host file system" in rows["filesystem reads"]
    assert "~/.ssh" in rows["filesystem reads"]
    assert "2 domain pattern(s)" in rows["network egress"]
    assert rows["processes, memory, CPU, time"].startswith("no limit")
    assert rows["seccomp"].startswith("apply-seccomp")
    assert rows["namespaces"] == "net, pid, user"
    assert rows["identity"].startswith("uid 0")


def test_srt_rows_follow_a_different_argv() -> None:
    """Without --unshare-net, apply-seccomp or '/' it says so; a limit tool is named."""
    bwrap = Bwrap(writable=("/w",), readable=("/usr",), command=("prlimit", "--as=1", "true"))
    rows = srt_rows({}, bwrap, 1000)
    assert rows["network egress"].startswith("the host's network")
    assert rows["seccomp"] == "none"
    assert rows["filesystem reads"].startswith("read-only: /usr")
    assert rows["processes, memory, CPU, time"] == "limited by: prlimit"
    assert rows["identity"].startswith("uid 1000")


def test_kafel_deny_list_is_read_from_the_policy_nsjail_gets() -> None:
    """Every [deny] call of the policy file, no argument-checked one."""
    denied = _kafel_denied(kafel_policy())
    assert len(denied) == len(policy_lists()[0])
    assert "io_uring_setup" in denied
    assert not any("(" in name or "clone" in name for name in denied)


def test_nsjail_rows_come_from_the_config_built_for_the_call(tmp_path: Path) -> None:
    """The limits, tmpfs, seccomp count and namespaces of a real jail config."""
    settings = Settings(socket=tmp_path / "s.sock", state_dir=tmp_path / "state")
    spec = RunSpec("c", Runtime.PYTHON, tmp_path, "run.py", (), b"", {}, (), LIMITS)
    rows = nsjail_rows(build_config(spec, settings, 2, idle_s=0), spec)
    assert rows["filesystem writes"].startswith("read-write: /tmp (private tmpfs, 64 MiB)")
    assert "/skill" in rows["filesystem reads"] and "no /proc" in rows["filesystem reads"]
    assert rows["network egress"] == "own network namespace, only lo; no host granted"
    assert rows["processes, memory, CPU, time"].startswith("cgroup: memory 256 MiB, 64 pids")
    assert rows["seccomp"].startswith(f"kafel: {len(policy_lists()[0])} calls fail with EPERM")
    assert rows["namespaces"] == "net, user, ns, pid, ipc, uts, cgroup"
    assert "capabilities: none; no_new_privs on" in rows["identity"]


def test_probe_facts_merge_json_lines_and_skip_the_rest() -> None:
    """Later objects override earlier keys; noise and non-objects are ignored."""
    out = 'warning: x\n{"a": true, "b": 1}\n[1]\n{"b": 2}\n'
    assert probe_facts(out) == {"a": True, "b": 2}
