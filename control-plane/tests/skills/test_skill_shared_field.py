"""SKILL.md `shared:`: a file kept once in `_shared/` beside the skills, packed into each
skill that names it, covered by its digest and carried by its bundle."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest
from nexflow_control.executors import BundleRefused, build_bundle
from nexflow_control.settings import REPO_ROOT
from nexflow_control.skills import Code, load_skill, skill_digest

WriteSkill = Callable[..., Path]
BASE = "name: demo\ndescription: d\nlocation: ./run.py\nruntime: python\n"
RUN = {"run.py": "import lib\n"}


def _members(data: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {
            m.name: tar.extractfile(m).read()  # type: ignore[union-attr]
            for m in tar.getmembers()
            if m.isfile()
        }


def test_a_shared_file_is_in_the_digest_and_the_bundle(write_skill: WriteSkill) -> None:
    """`shared: [lib.py]` takes `_shared/lib.py`; changing it changes the skill's digest,
    and the bundle holds it at the top beside the skill's own files."""
    shared = write_skill("x", name="_shared").parent / "_shared"
    (shared / "SKILL.md").unlink()  # a plain folder, never a skill
    (shared / "lib.py").write_text("VALUE = 1\n")
    folder = write_skill(BASE + "shared: [lib.py]\n", files=RUN)
    skill = load_skill(folder).skill
    assert skill is not None and skill.shared == (("lib.py", shared / "lib.py"),)
    files = _members(build_bundle(folder, skill.shared).data)
    assert sorted(files) == ["SKILL.md", "lib.py", "run.py"]
    assert files["lib.py"] == b"VALUE = 1\n"
    (shared / "lib.py").write_text("VALUE = 2\n")
    again = load_skill(folder).skill
    assert again is not None and again.digest != skill.digest
    assert skill_digest(folder) not in (skill.digest, again.digest)  # the folder alone


def test_a_packed_copy_carries_the_file_itself(write_skill: WriteSkill, tmp_path: Path) -> None:
    """A copy with the file in its own folder and no `_shared/` beside it (as installed)
    loads with nothing taken from outside, and digests like the composed original."""
    shared = tmp_path / "_shared"
    shared.mkdir()
    (shared / "lib.py").write_text("VALUE = 1\n")
    original = load_skill(write_skill(BASE + "shared: [lib.py]\n", files=RUN)).skill
    assert original is not None
    packed_root = tmp_path / "installed"
    packed_root.mkdir()
    folder = packed_root / "demo"
    folder.mkdir()
    for rel, data in _members(build_bundle(original.dir, original.shared).data).items():
        (folder / rel).write_bytes(data)
    copy = load_skill(folder).skill
    assert copy is not None and copy.shared == ()
    assert copy.digest == original.digest


@pytest.mark.parametrize(
    ("line", "setup", "code"),
    [
        ("shared: [../secret.py]", None, Code.BAD_PATH),
        ("shared: [sub/lib.py]", None, Code.BAD_PATH),
        ("shared: [lib.py, lib.py]", "file", Code.BAD_VALUE),
        ("shared: [lib.py]", None, Code.REQUIREMENT_FILE_MISSING),
        ("shared: [lib.py]", "both", Code.BAD_PATH),
        ("shared: [lib.py]", "link", Code.BAD_PATH),
        ("shared: [lib.py]", "dir", Code.BAD_PATH),
        ("shared: lib.py", "file", Code.BAD_TYPE),
    ],
    ids=["dot-dot", "subfolder", "twice", "missing", "both", "link", "dir", "not-a-list"],
)
def test_bad_shared_entries_are_errors(
    write_skill: WriteSkill, tmp_path: Path, line: str, setup: str | None, code: Code
) -> None:
    """Each bad entry is an error naming it; the skill does not load."""
    shared = tmp_path / "_shared"
    shared.mkdir()
    (tmp_path / "secret.py").write_text("KEY = 1\n")
    files = dict(RUN)
    if setup in ("file", "both"):
        (shared / "lib.py").write_text("VALUE = 1\n")
    if setup == "both":
        files["lib.py"] = "VALUE = 2\n"
    if setup == "link":
        (shared / "lib.py").symlink_to(tmp_path / "secret.py")
    if setup == "dir":
        (shared / "lib.py").mkdir()
    result = load_skill(write_skill(BASE + line + "\n", files=files))
    assert result.skill is None
    errors = [(d.field, d.code) for d in result.diagnostics if d.is_error]
    assert len(errors) == 1 and errors[0][1] == code, result.diagnostics
    assert errors[0][0].startswith("shared")


def test_the_bundle_refuses_a_shared_name_that_is_not_one_plain_file(tmp_path: Path) -> None:
    """`build_bundle` holds the line itself, whatever a caller passes."""
    folder = tmp_path / "demo"
    folder.mkdir()
    (folder / "run.py").write_text("")
    (tmp_path / "lib.py").write_text("")
    for name in ("../lib.py", "a/lib.py", ".."):
        with pytest.raises(BundleRefused):
            build_bundle(folder, [(name, tmp_path / "lib.py")])
    (tmp_path / "link.py").symlink_to(tmp_path / "lib.py")
    with pytest.raises(BundleRefused):
        build_bundle(folder, [("lib.py", tmp_path / "link.py")])


@pytest.mark.parametrize(
    ("skill", "allowed", "refused"),
    [("git-basic", "status", "push"), ("git-write", "commit", "clone")],
)
def test_git_skills_share_one_script_and_keep_their_actions(
    tmp_path: Path, skill: str, allowed: str, refused: str
) -> None:
    """git-basic and git-write each pack `skills/_shared/gitskill.py` (byte for byte) with a
    `run.py` that differs only in its actions; run from its own bundle, each refuses the
    other's actions as bad_input before git runs, and runs its own."""
    loaded = load_skill(REPO_ROOT / "skills" / skill).skill
    assert loaded is not None
    source = REPO_ROOT / "skills" / "_shared" / "gitskill.py"
    assert loaded.shared == (("gitskill.py", source),)
    files = _members(build_bundle(loaded.dir, loaded.shared).data)
    assert files["gitskill.py"] == source.read_bytes()
    unpacked = tmp_path / skill
    unpacked.mkdir()
    for rel, data in files.items():
        (unpacked / rel).write_bytes(data)
    workspace = tmp_path / "ws"
    workspace.mkdir()

    def run(action: str) -> dict[str, object]:
        done = subprocess.run(
            [sys.executable, "-I", "-S", str(unpacked / "run.py")],
            input=json.dumps({"action": action, "repo": "nothing-here", "message": "m"}),
            capture_output=True, text=True, cwd=workspace, timeout=60,
            env={"PATH": os.environ["PATH"], "NEXFLOW_WORKSPACE": str(workspace)},
        )  # fmt: skip
        return dict(json.loads(done.stdout.strip().splitlines()[-1]))

    assert run(refused)["error"] == "bad_input"
    assert run(allowed).get("error") != "bad_input"
    basic = (REPO_ROOT / "skills" / "git-basic" / "run.py").read_text().split('"""', 2)[2]
    write = (REPO_ROOT / "skills" / "git-write" / "run.py").read_text().split('"""', 2)[2]
    line = 'ACTIONS = ("clone", "status", "log", "diff")'
    assert line in basic and write == basic.replace(line, 'ACTIONS = ("commit", "push")')


def test_installing_from_a_folder_packs_the_shared_file_in() -> None:
    """`nexflow skill install ./skills/git-write` sends an archive that holds gitskill.py
    itself, so the installed copy loads with nothing outside its folder."""
    import base64
    import zipfile

    from nexflow_control.cli._marketplace import _archive

    data = base64.b64decode(_archive(REPO_ROOT / "skills" / "git-write"))
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        names = sorted(z.namelist())
        packed = z.read("gitskill.py")
    assert names == ["SKILL.md", "gitskill.py", "run.py"]
    assert packed == (REPO_ROOT / "skills" / "_shared" / "gitskill.py").read_bytes()
