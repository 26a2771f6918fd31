"""End to end: git-basic (clone, status, log, diff) and git-write (commit, push) through a
real `nexflow up`, in the real sandbox on Docker (the nexflow/git image) and on nsjail
(the host's git), against Git's own smart HTTP server (`git http-backend`) on loopback,
reached through the per-call egress proxy.

The attack tests fail if the attack works: option injection in revisions and branches,
`ext::`/`file://` remotes, and a working copy whose .git/config would run a program
(core.fsmonitor, core.sshCommand, a clean filter) or whose hooks would run on commit.
Where a plain git would fall for it, the test first shows that it does.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.harness import REPO, Stack
from tests.skill_calls import approved, failed, ok
from tests.skill_git_server import GitServer
from tests.skill_secret_world import as_admin, as_uma, never_leaked
from tests.skill_world import World

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("skills-network-e2e")]


@pytest.fixture(scope="module")
def git_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitServer]:
    """git http-backend on loopback with a public repository and a private one."""
    server = GitServer(tmp_path_factory.mktemp("git-server"))
    server.create("team/app.git", {"README.md": "hello\n", "src/main.py": "print(1)\n"})
    server.create("private/vault.git", {"keys.txt": "nothing here\n"})
    yield server
    server.close()


def _new(name: str) -> str:
    """A folder name no other test (or backend) of the session uses."""
    return f"{name}-{uuid.uuid4().hex[:8]}"


def _clone(stack: Stack, server: GitServer, repo: str = "team/app.git") -> str:
    """A fresh clone of `repo` in the workspace, run on the stack's own default backend
    (nexflow/git does not pin Docker: on the nsjail stack it runs under nsjail)."""
    folder = _new("app")
    reply = stack.call("git-basic", {"action": "clone", "url": server.url(repo), "repo": folder})
    body = reply.json()
    assert reply.status_code == 200 and body["status"] == "succeeded", body
    assert body["backend"] == stack.client.get("/health").json()["sandbox"]["backend"]
    assert body["output"]["branch"] == "main" and len(body["output"]["head"]) == 40, body
    return folder


def _refused(stack: Stack, skill: str, value: dict[str, Any]) -> str:
    """The stable code a call was refused with: the API's (schema) or the script's error."""
    reply = stack.call(skill, value)
    body = reply.json()
    if reply.status_code != 200:
        return str(body["error"])
    assert body["status"] == "failed", body
    return str(body["output"]["error"])


def test_git_basic_clones_and_reads_a_working_copy(
    skill_world: World, git_server: GitServer
) -> None:
    """A clone over smart HTTP through the proxy; then status, diff and log see a change."""
    stack = skill_world.stack
    folder = _clone(stack, git_server)
    copy = stack.workspace / folder
    assert (copy / "src" / "main.py").read_text() == "print(1)\n"
    clean = ok(stack, "git-basic", {"action": "status", "repo": folder})
    assert clean["clean"] is True and clean["tracking"] == "main...origin/main"
    (copy / "README.md").write_text("hello\nworld\n")
    (copy / "notes.txt").write_text("new\n")
    changed = ok(stack, "git-basic", {"action": "status", "repo": folder})
    assert {(f["path"], f["index"] + f["worktree"]) for f in changed["files"]} == {
        ("README.md", " M"),
        ("notes.txt", "??"),
    }
    patch = ok(stack, "git-basic", {"action": "diff", "repo": folder})
    assert patch["files"] == [{"path": "README.md", "added": 1, "removed": 0}]
    assert "+world" in patch["patch"] and patch["truncated"] is False
    history = ok(stack, "git-basic", {"action": "log", "repo": folder, "max_count": 5})
    assert [(c["subject"], c["author"]) for c in history["commits"]] == [("first commit", "Ann")]
    assert ("GET", "/team/app.git/info/refs?service=git-upload-pack") in git_server.requests


def test_git_write_commits_and_pushes_after_approval(
    skill_world: World, git_server: GitServer
) -> None:
    """commit and push each wait for a human; then the new commit is on the server's branch."""
    stack, otto = skill_world.stack, skill_world.otto
    folder = _clone(stack, git_server)
    (stack.workspace / folder / "CHANGELOG.md").write_text("- pushed by a skill\n")
    commit = {
        "action": "commit",
        "repo": folder,
        "message": "Add a changelog",
        "author_name": "Bot",
        "author_email": "bot@example.org",
    }
    status, out = approved(stack, otto, "git-write", commit)
    assert status == "succeeded", out
    assert out["files"] == ["CHANGELOG.md"] and len(out["commit"]) == 40
    branch = _new("feature")
    push = {
        "action": "push",
        "repo": folder,
        "url": git_server.url("team/app.git"),
        "branch": branch,
    }
    status, pushed = approved(stack, otto, "git-write", push)
    assert status == "succeeded", pushed
    assert pushed["pushed"] == out["commit"]
    assert git_server.log("team/app.git", branch) == ["Add a changelog", "first commit"]
    assert git_server.log("team/app.git", "main") == ["first commit"]


def test_git_refuses_option_injection_and_foreign_transports(
    skill_world: World, git_server: GitServer
) -> None:
    """Revisions and branches that are options, and ext::/file:// remotes, are refused
    before git runs: no file appears, nothing is cloned."""
    stack = skill_world.stack
    folder = _clone(stack, git_server)
    canary = stack.workspace / _new("pwned")
    inside = f"/workspace/{canary.name}"
    attacks: list[tuple[str, dict[str, Any]]] = [
        ("git-basic", {"action": "log", "repo": folder, "rev": f"--output={inside}"}),
        ("git-basic", {"action": "log", "repo": folder, "rev": f"HEAD --output={inside}"}),
        ("git-basic", {"action": "diff", "repo": folder, "from": f"-o{inside}"}),
        (
            "git-basic",
            {
                "action": "clone",
                "repo": _new("c"),
                "url": git_server.url("team/app.git"),
                "branch": f"--upload-pack=touch {inside}",
            },
        ),
        ("git-basic", {"action": "clone", "repo": _new("c"), "url": f"ext::sh -c touch% {inside}"}),
        ("git-basic", {"action": "clone", "repo": _new("c"), "url": "file:///etc"}),
        (
            "git-write",
            {
                "action": "push",
                "repo": folder,
                "url": git_server.url("team/app.git"),
                "branch": "-f",
            },
        ),
    ]
    for skill, value in attacks:
        code = _refused(stack, skill, value)
        assert code in ("bad_input", "invalid_input"), (value, code)
    assert not canary.exists()
    assert sorted(p.name for p in stack.workspace.iterdir() if p.name.startswith("c-")) == []


@pytest.mark.parametrize(
    "config",
    [
        "[core]\n\tfsmonitor = touch {canary}\n",
        "[core]\n\tsshCommand = touch {canary}\n",
        '[filter "x"]\n\tclean = touch {canary}\n',
        "[include]\n\tpath = /etc/gitconfig\n",
    ],
    ids=["fsmonitor", "sshCommand", "filter", "include"],
)
def test_git_refuses_a_working_copy_whose_config_runs_programs(
    skill_world: World, git_server: GitServer, config: str
) -> None:
    """A .git/config naming a program is refused as unsafe_config and the program never
    runs (a plain `git status` on the same copy runs the fsmonitor: the attack is real)."""
    stack = skill_world.stack
    folder = _clone(stack, git_server)
    copy = stack.workspace / folder
    canary = stack.workspace / _new("pwned")
    (copy / ".gitattributes").write_text("* filter=x\n")
    with (copy / ".git" / "config").open("a") as fh:
        fh.write(config.format(canary=f"/workspace/{canary.name}"))
    if "fsmonitor" in config:
        host = (copy / ".git" / "config").read_text().replace("/workspace/", f"{stack.workspace}/")
        (copy / ".git" / "config").write_text(host)
        subprocess.run(
            ["git", "-c", f"safe.directory={copy}", "-C", str(copy), "status"],
            capture_output=True,
            check=False,
        )
        assert canary.exists(), "plain git did not run the fsmonitor: the test proves nothing"
        canary.unlink()
    for action in ("status", "diff", "log"):
        out = failed(stack, "git-basic", {"action": action, "repo": folder})
        assert out["error"] == "unsafe_config", out
    assert not canary.exists()


def test_git_write_never_runs_the_copy_s_hooks(skill_world: World, git_server: GitServer) -> None:
    """pre-commit and post-commit hooks planted in a working copy do not run on commit
    (a plain `git commit` would run them)."""
    stack, otto = skill_world.stack, skill_world.otto
    folder = _clone(stack, git_server)
    copy = stack.workspace / folder
    canary = stack.workspace / _new("pwned")
    for hook in ("pre-commit", "post-commit", "commit-msg", "prepare-commit-msg"):
        path = copy / ".git" / "hooks" / hook
        path.write_text(f"#!/bin/sh\necho {hook} >> /workspace/{canary.name}\nexit 0\n")
        path.chmod(0o755)
    (copy / "x.txt").write_text("x\n")
    value = {"action": "commit", "repo": folder, "message": "no hooks please"}
    status, out = approved(stack, otto, "git-write", value)
    assert status == "succeeded", out
    assert not canary.exists()


def test_git_secret_login_opens_a_private_remote(
    secret_world: tuple[World, httpx.Client], git_server: GitServer
) -> None:
    """With the granted git_password the private remote is cloned (git asks only after the
    server's 401); without it (the operator) the clone fails as login_failed; the password
    never leaks."""
    w, uma = secret_world
    url = git_server.url("private/vault.git")
    out = as_admin(w, "git-basic", {"action": "clone", "url": url, "repo": _new("vault")})
    assert out["branch"] == "main"
    folder = _new("vault")
    anonymous = as_uma(w, uma, "git-basic", {"action": "clone", "url": url, "repo": folder})
    assert anonymous["status"] == "failed", anonymous
    assert anonymous["result"]["output"]["error"] == "login_failed"
    never_leaked(w, "git_password")


def test_git_write_is_git_basic_with_other_actions() -> None:
    """The two skills pack one script, skills/_shared/gitskill.py (SKILL.md `shared:`);
    their run.py differ, beyond the docstring, only in ACTIONS."""
    basic = (REPO / "skills" / "git-basic" / "run.py").read_text().split('"""', 2)[2]
    write = (REPO / "skills" / "git-write" / "run.py").read_text().split('"""', 2)[2]
    line = 'ACTIONS = ("clone", "status", "log", "diff")'
    assert line in basic
    assert write == basic.replace(line, 'ACTIONS = ("commit", "push")')
    for skill in ("git-basic", "git-write"):
        assert "\nshared: [gitskill.py]\n" in (REPO / "skills" / skill / "SKILL.md").read_text()


def test_git_image_is_the_one_the_skills_name() -> None:
    """Both skills name nexflow/git, which nsjail stands in for with the host's git."""
    from nexflow_common.images import HOST_TOOL_IMAGES

    for skill in ("git-basic", "git-write"):
        text = (REPO / "skills" / skill / "SKILL.md").read_text()
        assert "\nimage: nexflow/git:bookworm\n" in text
    assert "nexflow/git:bookworm" in HOST_TOOL_IMAGES
    assert Path("/usr/bin/git").exists(), "nsjail runs the host's git (scripts/setup.sh)"
