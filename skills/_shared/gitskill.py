"""git on a working copy in the workspace (stdin: JSON input, stdout: JSON result), for
the git-basic and git-write skills. Kept once here; each skill's SKILL.md names it in
`shared:`, so it is packed into both bundles (and their digests) as `gitskill.py`, and
each skill's `run.py` calls `main` with its own actions: git-basic reads (clone, status,
log, diff), git-write commits and pushes, so policy can send only the writes to approval.
An action outside the caller's list is `bad_input` before anything runs.

Everything git reads is hostile: the input (option injection: every free value is
validated and placed after `--end-of-options` or `--`), the remote (only http(s), through
the egress proxy, objects fsck'd) and the working copy (its .git/config may name
programs git would run: fsmonitor, ssh, pagers, filters, diff drivers. It is read first
and refused unless every key is on a short list of inert ones; hooks, system and global
config are switched off for every git run whatever the repository says).
"""

import json
import os
import re
import stat
import subprocess
import sys
import urllib.parse

GIT = "/usr/bin/git"
MAX_TEXT = 1 << 20
# A revision for log/diff: a name, a hash, or HEAD~2 / main^ forms; never an option.
_REV = re.compile(r"^(?!-)(?!.*\.\.)[A-Za-z0-9._/@^~-]{1,200}$")
_BRANCH = re.compile(r"^(?![-/.])(?!.*\.\.)(?!.*//)(?!.*@\{)[A-Za-z0-9._/-]{1,200}(?<![./])$")
_EMAIL = re.compile(r"^[^<>\s]{1,200}@[^<>\s]{1,200}$")
# The .git/config keys a working copy may carry: none of them makes git run a program or
# contact anything. Anything else (core.fsmonitor, core.sshCommand, core.pager,
# filter.*.clean, diff.*.command, include.path, url.*.insteadOf, remote.*.uploadpack ...)
# is refused before git is asked to look at the repository.
_INERT_KEYS = re.compile(
    r"^(core\.(repositoryformatversion|filemode|bare|logallrefupdates|ignorecase"
    r"|precomposeunicode|symlinks)|extensions\.objectformat|user\.(name|email)"
    r"|remote\.[^\n]+\.(url|fetch)|branch\.[^\n]+\.(remote|merge))$"
)
# Set for every git run at the command-line level (which beats the repository's config).
_OVERRIDES = {
    "core.hooksPath": "/dev/null",
    "core.fsmonitor": "false",
    "core.sshCommand": "/bin/false",
    "core.pager": "cat",
    "core.editor": "/bin/false",
    "credential.helper": "",
    "protocol.allow": "never",
    "protocol.http.allow": "always",
    "protocol.https.allow": "always",
    "submodule.recurse": "false",
    "transfer.fsckObjects": "true",
    "gc.auto": "0",
    "maintenance.auto": "false",
    "commit.gpgSign": "false",
    "advice.detachedHead": "false",
    # The working copy belongs to whichever uid wrote the workspace; its config has been
    # checked above, which is what safe.directory guards against.
    "safe.directory": "*",
}


def fail(code, message):
    print(json.dumps({"error": code, "message": message}))
    sys.exit(1)


def git_env(extra=None):
    """A clean environment: no system or global config, no prompts, http(s) only."""
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": "/tmp",  # noqa: S108 - the sandbox's own tmpfs; git reads no config there
        "LANG": "C.UTF-8",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": "/dev/null",
        "GIT_ATTR_NOSYSTEM": "1",
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_ALLOW_PROTOCOL": "http:https",
        "GIT_PROTOCOL_FROM_USER": "0",
        "GIT_NO_REPLACE_OBJECTS": "1",
        "GIT_PAGER": "cat",
        "GIT_EDITOR": "/bin/false",
    }
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "NO_PROXY", "no_proxy"):
        if os.environ.get(name) is not None:
            env[name] = os.environ[name]
    if os.environ.get("SSL_CERT_FILE"):
        env["GIT_SSL_CAINFO"] = os.environ["SSL_CERT_FILE"]
    config = dict(_OVERRIDES)
    proxy = os.environ.get("HTTPS_PROXY") or os.environ.get("https_proxy")
    if proxy:
        config["http.proxy"] = proxy
    if os.environ.get("NEXFLOW_SECRET_GIT_PASSWORD") is not None:
        # The helper answers from the environment, so the secret is in no argv and no file.
        env["NEXFLOW_GIT_USER"] = os.environ.get("NEXFLOW_SECRET_GIT_USERNAME") or "git"
        env["NEXFLOW_GIT_PASSWORD"] = os.environ["NEXFLOW_SECRET_GIT_PASSWORD"]
        config["credential.helper"] = (
            '!f() { test "$1" = get || exit 0; echo "username=$NEXFLOW_GIT_USER"; '
            'echo "password=$NEXFLOW_GIT_PASSWORD"; }; f'
        )
    env["GIT_CONFIG_COUNT"] = str(len(config))
    for i, (key, value) in enumerate(config.items()):
        env[f"GIT_CONFIG_KEY_{i}"], env[f"GIT_CONFIG_VALUE_{i}"] = key, value
    env.update(extra or {})
    return env


def git(args, repo=None, extra_env=None, timeout=120, ok=(0,)):
    """Runs git (in `repo`'s work tree, with its .git named: no discovery); its stdout."""
    head = [GIT]
    if repo is not None:
        head += [f"--git-dir={repo}/.git", f"--work-tree={repo}", "-C", repo]
    try:
        done = subprocess.run(
            head + args,
            env=git_env(extra_env),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        fail("timeout", f"git {args[0]} took longer than {timeout} s")
    except OSError as exc:  # no git here: an nsjail host without Debian's git package
        fail("git_missing", f"cannot run {GIT}: {exc.strerror}")
    if done.returncode not in ok:
        err = done.stderr.decode("utf-8", "replace").strip()
        code = "git_failed"
        if "Authentication failed" in err or "could not read Username" in err:
            code = "login_failed"
        elif "from proxy after CONNECT" in err or "Received HTTP code 403 from proxy" in err:
            code = "egress_refused"
        elif "not found" in err.lower() and "repository" in err.lower():
            code = "not_found"
        fail(code, f"git {args[0]} failed ({done.returncode}): {err[-1500:]}")
    return done.stdout


def workspace_path(value, key):
    root = os.path.realpath(os.environ.get("NEXFLOW_WORKSPACE", "/workspace"))
    if not isinstance(value, str) or not value or "\0" in value:
        fail("bad_input", f"'{key}' must be a non-empty path inside the workspace")
    real = os.path.realpath(os.path.join(root, value))
    if not real.startswith(root + os.sep):
        fail("outside_workspace", f"{value!r} is not inside the workspace")
    return real


def working_copy(value):
    """The checked repository folder: a real .git directory whose config is inert."""
    repo = workspace_path(value, "repo")
    dot_git = os.path.join(repo, ".git")
    try:
        mode = os.lstat(dot_git).st_mode
    except OSError:
        fail("not_a_repository", f"{value!r} has no .git folder")
    if not stat.S_ISDIR(mode):
        fail("unsafe_repository", f"{value!r}: .git is not a plain folder (a link or gitdir file)")
    if os.path.lexists(os.path.join(dot_git, "commondir")):
        fail("unsafe_repository", f"{value!r} is a linked worktree of another repository")
    listed = git(["config", "--file", os.path.join(dot_git, "config"), "--null", "--list"])
    keys = {item.split(b"\n", 1)[0].decode("utf-8", "replace") for item in listed.split(b"\0")}
    unsafe = sorted(k for k in keys if k and not _INERT_KEYS.match(k.lower()))
    if unsafe:
        fail(
            "unsafe_config",
            f"{value!r}: .git/config sets {', '.join(unsafe)[:500]}, which git does not run with",
        )
    return repo


def remote_url(data):
    url = data.get("url")
    if not isinstance(url, str):
        fail("bad_input", "'url' (http:// or https://) is required")
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError as exc:
        fail("bad_input", f"'url' is not a URL: {exc}")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        fail("bad_input", "'url' must be an http:// or https:// URL (no ext::, file://, ssh)")
    if parts.username or parts.password:
        fail("bad_input", "'url' must not carry a login (grant the git_password secret)")
    return url


def revision(data, key):
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not _REV.match(value):
        fail("bad_input", f"'{key}' {str(value)[:100]!r} is not a revision (name, hash, HEAD~N)")
    return value


def branch(data, key, required=False):
    value = data.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not _BRANCH.match(value) or value.endswith(".lock"):
        fail("bad_input", f"'{key}' {str(value)[:100]!r} is not a branch name")
    return value


def pathspecs(data):
    paths = data.get("paths") or []
    if not isinstance(paths, list) or len(paths) > 100:
        fail("bad_input", "'paths' must be a list of at most 100 paths")
    for p in paths:
        if not isinstance(p, str) or not p or "\0" in p or len(p) > 4096:
            fail("bad_input", "each of 'paths' must be a non-empty path")
    # literal: `:(exclude)`, globs and other magic in a path are plain characters.
    return [f":(literal){p}" for p in paths]


def text(raw, limit):
    value = raw.decode("utf-8", "replace")
    return (value[:limit], True) if len(value) > limit else (value, False)


def head_of(repo):
    commit = git(["rev-parse", "--verify", "-q", "HEAD"], repo, ok=(0, 1)).decode().strip()
    name = git(["symbolic-ref", "-q", "--short", "HEAD"], repo, ok=(0, 1)).decode().strip()
    return commit or None, name or None


def clone(data):
    url = remote_url(data)
    dest = workspace_path(data.get("repo"), "repo")
    if os.path.lexists(dest):
        fail("exists", f"{data['repo']!r} already exists")
    args = ["clone", "--no-recurse-submodules", "--quiet"]
    if (name := branch(data, "branch")) is not None:
        args.append(f"--branch={name}")
    depth = data.get("depth")
    if depth is not None:
        if isinstance(depth, bool) or not isinstance(depth, int) or not 1 <= depth <= 100000:
            fail("bad_input", "'depth' must be an integer from 1 to 100000")
        args.append(f"--depth={depth}")
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    git([*args, "--", url, dest], timeout=300)
    commit, name = head_of(working_copy(data["repo"]))
    return {"repo": data["repo"], "head": commit, "branch": name}


def status(data):
    repo = working_copy(data.get("repo"))
    raw = git(["status", "--porcelain=v1", "-z", "--branch", "--", *pathspecs(data)], repo)
    entries, branch_line = [], None
    items = raw.split(b"\0")
    i = 0
    while i < len(items):
        item = items[i].decode("utf-8", "replace")
        i += 1
        if not item:
            continue
        if item.startswith("## "):
            branch_line = item[3:]
            continue
        entry = {"index": item[0], "worktree": item[1], "path": item[3:]}
        if item[0] in "RC":  # renames and copies name the source next
            entry["from"] = items[i].decode("utf-8", "replace")
            i += 1
        entries.append(entry)
    commit, name = head_of(repo)
    return {
        "head": commit,
        "branch": name,
        "tracking": branch_line,
        "files": entries[:5000],
        "clean": not entries,
    }


def log(data):
    repo = working_copy(data.get("repo"))
    count = data.get("max_count", 20)
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 1000:
        fail("bad_input", "'max_count' must be an integer from 1 to 1000")
    args = [
        "log",
        "--no-ext-diff",
        "--no-textconv",
        f"--max-count={count}",
        "-z",
        "--format=%H%x1f%an%x1f%ae%x1f%aI%x1f%s",
        "--end-of-options",
    ]
    if (rev := revision(data, "rev")) is not None:
        args.append(rev)
    if head_of(repo)[0] is None:
        return {"commits": []}
    raw = git([*args, "--", *pathspecs(data)], repo)
    commits = []
    for record in raw.decode("utf-8", "replace").split("\0"):
        if record:
            sha, name, mail, when, subject = (record.split("\x1f") + [""] * 5)[:5]
            commits.append(
                {"commit": sha, "author": name, "email": mail, "date": when, "subject": subject}
            )
    return {"commits": commits}


def diff(data):
    repo = working_copy(data.get("repo"))
    limit = data.get("max_chars", 200000)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_TEXT:
        fail("bad_input", f"'max_chars' must be an integer from 1 to {MAX_TEXT}")
    opts = ["diff", "--no-ext-diff", "--no-textconv", "--no-color"]
    if data.get("staged"):
        opts.append("--cached")
    revs = [r for r in (revision(data, "from"), revision(data, "to")) if r is not None]
    tail = ["--end-of-options", *revs, "--", *pathspecs(data)]
    stat_raw = git([*opts, "--numstat", "-z", *tail], repo)
    patch, truncated = text(git([*opts, *tail], repo), limit)
    files = []
    for item in stat_raw.decode("utf-8", "replace").split("\0"):
        parts = item.split("\t", 2)
        if len(parts) == 3:
            added, removed, path = parts
            files.append(
                {
                    "path": path,
                    "added": int(added) if added.isdigit() else None,
                    "removed": int(removed) if removed.isdigit() else None,
                }
            )
    return {"files": files, "patch": patch, "truncated": truncated}


def commit(data):
    repo = working_copy(data.get("repo"))
    message = data.get("message")
    if not isinstance(message, str) or not message.strip() or len(message) > 65536:
        fail("bad_input", "'message' must be non-empty text (at most 65536 characters)")
    name = data.get("author_name", "Nexflow")
    email = data.get("author_email", "nexflow@localhost")
    if not isinstance(name, str) or not 0 < len(name) <= 200 or any(c in name for c in "<>\n\0"):
        fail("bad_input", "'author_name' must be a plain name")
    if not isinstance(email, str) or not _EMAIL.match(email):
        fail("bad_input", "'author_email' must be an address like ann@example.org")
    specs = pathspecs(data) or [":(literal)."]
    git(["add", "--all", "--", *specs], repo)
    if not git(["diff", "--cached", "--name-only", "-z"], repo):
        fail("nothing_to_commit", "the working copy has no change to commit")
    people = {
        "GIT_AUTHOR_NAME": name,
        "GIT_AUTHOR_EMAIL": email,
        "GIT_COMMITTER_NAME": name,
        "GIT_COMMITTER_EMAIL": email,
    }
    git(
        ["commit", "--quiet", "--no-verify", "--no-gpg-sign", f"--message={message}"],
        repo,
        extra_env=people,
    )
    sha, current = head_of(repo)
    changed = git(["show", "--name-only", "-z", "--format=", "HEAD"], repo)
    files = [f for f in changed.decode("utf-8", "replace").split("\0") if f]
    return {"commit": sha, "branch": current, "files": files}


def push(data):
    repo = working_copy(data.get("repo"))
    url = remote_url(data)
    target = branch(data, "branch", required=True)
    if head_of(repo)[0] is None:
        fail("nothing_to_push", "the working copy has no commit")
    # Never a force push: a refspec without '+', and no --force option.
    raw = git(
        ["push", "--porcelain", "--no-verify", "--", url, f"HEAD:refs/heads/{target}"],
        repo,
        timeout=300,
        ok=(0, 1),
    )
    lines = raw.decode("utf-8", "replace").splitlines()
    refs = [ln for ln in lines if ln[:1] in "*+-=! " and "\t" in ln]
    if any(ln.startswith("!") for ln in refs):
        fail("push_rejected", "the remote refused the push: " + "; ".join(refs)[:1000])
    sha, _ = head_of(repo)
    return {"pushed": sha, "branch": target, "up_to_date": all(ln.startswith("=") for ln in refs)}


def main(actions):
    """Run the one action the input names, if it is in `actions`."""
    try:
        data = json.load(sys.stdin)
    except ValueError as exc:
        fail("bad_input", f"input is not JSON: {exc}")
    if not isinstance(data, dict):
        fail("bad_input", "input must be a JSON object")
    action = data.get("action")
    if action not in actions:
        fail("bad_input", f"'action' must be one of {', '.join(actions)}")
    out = {
        "clone": clone,
        "status": status,
        "log": log,
        "diff": diff,
        "commit": commit,
        "push": push,
    }[action](data)
    print(f"git: {action} done", file=sys.stderr)
    print(json.dumps({"action": action, **out}, ensure_ascii=False))
