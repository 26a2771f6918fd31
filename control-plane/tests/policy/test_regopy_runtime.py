"""regopy and RE2 in one process: one C++ allocator, so skill schema patterns cannot crash it.

rego-cpp's library exports its own ``operator new``/``delete`` (snmalloc); loaded before
any other C++ extension it captured the C++ runtime's, and RE2 then freed snmalloc memory
with glibc's ``free``: the process aborted ("double free or corruption") while loading a
skill whose schema has ``"pattern": "^[hH][tT][tT][pP][sS]?://"``. Each case runs in a
fresh interpreter, since the order in which the libraries load is what matters.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
PACKAGE = REPO / "control-plane" / "src" / "nexflow_control"

# Loads the built-in catalog (its schemas carry case-folded `pattern`s) from several
# threads at once, validates inputs against them, and asks the embedded policy engine
# for a decision; prints what it saw as JSON.
_SCRIPT = r"""
import json, sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

order, repo = sys.argv[1], Path(sys.argv[2])
if order == "re2-first":
    import re2
from nexflow_control.policy import _regopy
if order == "regopy-first" and "re2" in sys.modules:
    sys.exit("re2 loaded before regopy: the order under test is lost")
from nexflow_control.policy import EmbeddedEngine
from nexflow_control.skills import SkillCatalog, first_error, safe_validator
sys.path.insert(0, str(repo))
from tests.policy_input import policy_input

CASES = [("http-health", {"url": "HTTPS://example.org/health"}),
         ("http-health", {"url": "ftp://example.org/health"}),
         ("web-fetch", {"url": "http://example.org/"}),
         ("github", {"api_url": "https://api.github.com", "repo": "octo/hi", "what": "runs"}),
         ("github", {"api_url": "https://api.github.com", "repo": "octo hi", "what": "runs"}),
         ("dns-lookup", {"server": "dns://192.0.2.1:53", "name": "example.org"}),
         ("dns-lookup", {"server": "dns://u@192.0.2.1", "name": "example.org"})]

def round(_):
    catalog = SkillCatalog.load([(repo / "skills", "builtin")])
    errors = [str(d) for d in catalog.diagnostics if d.severity.value == "error"]
    patterned = sorted(s.name for s in catalog.list() if '"pattern"' in json.dumps(s.input_schema))
    verdicts = []
    for name, value in CASES:
        error = first_error(safe_validator(catalog.get(name).input_schema), value)
        verdicts.append(None if error is None else error.validator)
    return {"errors": errors, "patterned": patterned, "verdicts": verdicts}

with ThreadPoolExecutor(4) as pool:
    rounds = list(pool.map(round, range(8)))
decision = EmbeddedEngine(repo / "policies").decide_sync(policy_input())
print(json.dumps({"rounds": rounds, "allow": decision.allow}))
"""

# Built-in skills whose input schemas the skill authors gave a `pattern`.
_PATTERNED = ["alert-silence", "caldav-create", "caldav-list", "checksum", "dns-lookup",
              "git-basic", "git-write", "github", "gitlab", "http-health", "loki-query",
              "mail-read", "mail-send", "port-check", "prometheus-query", "rss",
              "tls-expiry", "web-fetch"]  # fmt: skip


@pytest.mark.parametrize("order", ["regopy-first", "re2-first"])
def test_patterns_and_embedded_policy_share_a_process(order: str) -> None:
    """Loading regopy before or after RE2, patterned schemas compile and validate from
    several threads and the embedded engine still decides: the process exits 0."""
    env = {**os.environ, "PYTHONFAULTHANDLER": "1"}
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT, order, str(REPO)],
        capture_output=True, text=True, timeout=300, env=env, check=False,
    )  # fmt: skip
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stderr[-3000:]}"
    seen = json.loads(done.stdout)
    assert seen["allow"] is True
    assert len(seen["rounds"]) == 8
    for result in seen["rounds"]:
        assert result["errors"] == []
        assert result["patterned"] == _PATTERNED
        assert result["verdicts"] == [None, "pattern", None, None, "pattern", None, "pattern"]


def test_regopy_is_imported_only_through_the_runtime_guard() -> None:
    """No module of the control plane imports regopy except `policy/_regopy.py`, which
    loads the C++ runtime first."""
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if path == PACKAGE / "policy" / "_regopy.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            if any(name.split(".")[0] == "regopy" for name in names):
                offenders.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert offenders == []
