"""`nexflow` imports a command group only when it runs; its help lists every group anyway."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from nexflow_control.cli import LAZY, app, load_group
from typer.testing import CliRunner

HEAVY = ("sqlalchemy", "alembic", "cryptography", "opa_client", "regopy", "fastapi")


def _imported_after(args: list[str]) -> tuple[int, list[str], str]:
    """Run `nexflow ARGS` in a fresh interpreter; which heavy modules did it import?"""
    probe = (
        "import json, sys\n"
        "from typer.testing import CliRunner\n"
        "from nexflow_control.cli import app\n"
        f"r = CliRunner().invoke(app, {args!r})\n"
        f"print(r.exit_code, json.dumps([m for m in {HEAVY!r} if m in sys.modules]))\n"
        "print(r.output)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    ).stdout
    first, _, rest = out.partition("\n")
    code, _, mods = first.partition(" ")
    return int(code), json.loads(mods), rest


@pytest.mark.parametrize("name", sorted(LAZY))
def test_the_listed_help_is_the_groups_own(name: str) -> None:
    command = load_group(name)
    assert command.name == name
    assert (command.help or "").strip().split("\n\n")[0] == LAZY[name][2]


def test_help_lists_every_group_and_imports_none_of_them() -> None:
    code, heavy, output = _imported_after(["--help"])
    assert code == 0
    assert heavy == []
    for name in ("up", *LAZY):
        assert f" {name} " in output, name


def test_an_http_command_group_does_not_import_the_database_or_crypto() -> None:
    for group in (["approval", "--help"], ["skill", "call", "--help"], ["secret", "--help"]):
        code, heavy, output = _imported_after(group)
        assert code == 0, output
        assert heavy == [], group


def test_a_group_runs_after_it_is_loaded() -> None:
    result = CliRunner().invoke(app, ["skill", "--help"])
    assert result.exit_code == 0
    for sub in ("lint", "call", "install", "installed", "consent"):
        assert sub in result.output
    result = CliRunner().invoke(app, ["nosuch"])
    assert result.exit_code == 2
    assert "No such command" in result.output
