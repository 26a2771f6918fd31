"""`nexflow image build|lint|list`: author and inspect the images skills run in."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

from ..settings import REPO_ROOT
from ._client import fail

app = typer.Typer(help="Build, lint and list skill images.", no_args_is_help=True)

RUNTIME_IMAGES = ("base", "bash", "python", "node")


@app.command("lint")
def lint(
    paths: Annotated[list[Path], typer.Argument(help="Image folders or Dockerfiles")],
    as_json: Annotated[bool, typer.Option("--json", help="One JSON document")] = False,
) -> None:
    """Check Dockerfiles: non-root USER, no ADD from URLs, pinned base, no secrets, labels.
    Exit 0 valid, 1 invalid, 2 usage error."""
    from ..images import lint_command

    raise typer.Exit(lint_command(paths, as_json, sys.stdout))


@app.command("build")
def build(
    path: Annotated[
        Path | None,
        typer.Argument(help="A skill folder with a Dockerfile, or skill-images/<name>"),
    ] = None,
    all_: Annotated[
        bool, typer.Option("--all", help="The runtime images, then every skill's Dockerfile")
    ] = False,
    force: Annotated[bool, typer.Option("--force", help="Rebuild even when up to date")] = False,
) -> None:
    """Build images; skill images are tagged by the skill's digest and labelled with it."""
    if (path is None) == (not all_):
        fail("give a folder or --all (not both)", code=2)
    if all_:
        _runtime_images(list(RUNTIME_IMAGES), force)
        from ..skills import SkillCatalog

        catalog = SkillCatalog.load([(REPO_ROOT / "skills", "builtin")])
        for skill in catalog.list():
            if skill.dockerfile:
                _skill_image(skill.dir, force)
        return
    assert path is not None
    if not path.is_dir():
        fail(f"{path}: not a folder", code=2)
    resolved = path.resolve()
    if resolved.parent == (REPO_ROOT / "skill-images").resolve():
        _runtime_images([resolved.name], force)
    elif (resolved / "SKILL.md").is_file():
        _skill_image(resolved, force)
    else:
        fail(f"{path}: neither a skill folder (SKILL.md) nor one of skill-images/", code=2)


def _runtime_images(names: list[str], force: bool) -> None:
    script = REPO_ROOT / "scripts" / "build-images.sh"
    argv = [str(script), *(["--force"] if force else []), *names]
    code = subprocess.call(argv)
    if code != 0:
        raise typer.Exit(code)


def _skill_image(folder: Path, force: bool) -> None:
    from rich.console import Console

    from ..images import lint_paths
    from ..images._build import BuildError, build_skill_image, skill_image_present
    from ..skills import load_skill

    console = Console(stderr=True)
    loaded = load_skill(folder)
    if loaded.skill is None:
        for diagnostic in loaded.diagnostics:
            console.print(diagnostic.format(), markup=False)
        fail(f"{folder}: the skill does not load; fix SKILL.md first", code=1)
    skill = loaded.skill
    assert skill is not None
    if not skill.dockerfile:
        fail(f"{folder}: the skill ships no Dockerfile (it names image: {skill.image})", code=2)
    problems = [d for d in lint_paths([folder]) if d.is_error]
    if problems:
        for problem in problems:
            console.print(problem.format(), markup=False)
        fail(f"{folder}/Dockerfile: {len(problems)} lint error(s); not building", code=1)
    if not force and skill_image_present(skill):
        console.print(f"{skill.image_ref}: up to date")
        return
    try:
        with console.status(f"building {skill.image_ref}") as status:

            def progress(line: str) -> None:
                if line.startswith("Step "):
                    status.update(f"building {skill.image_ref}: {line[:100]}")
                    console.print(f"  {line}", markup=False, highlight=False)

            image_id = build_skill_image(skill, progress)
    except BuildError as exc:
        fail(f"{skill.name}: build failed: {exc}", code=1)
    console.print(f"{skill.image_ref}: built {image_id[:19]}")


@app.command("list")
def list_() -> None:
    """Runtime and skill images on this host."""
    from ..images._build import BuildError, list_images

    try:
        rows = list_images()
    except BuildError as exc:
        fail(str(exc), code=1)
    print(f"{'IMAGE':45} {'ID':19} {'SIZE':>8}  RUNTIME  SKILL")
    for row in rows:
        name = row.tags[0] if row.tags else "<untagged>"
        size = f"{row.size_bytes / 1e6:.0f} MB"
        print(f"{name:45} {row.id[:19]:19} {size:>8}  {row.runtime or '-':7}  {row.skill or '-'}")
