#!/usr/bin/env python3
"""git-basic: clone, status, log and diff; it commits nothing and changes no remote.

The code is `gitskill.py`, kept once in `skills/_shared/` and packed into this skill's
bundle by SKILL.md's `shared:`; this file only says which actions the skill may run.
"""

import importlib.util
import pathlib

ACTIONS = ("clone", "status", "log", "diff")

_spec = importlib.util.spec_from_file_location(
    "gitskill", pathlib.Path(__file__).resolve().with_name("gitskill.py")
)
gitskill = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gitskill)

if __name__ == "__main__":
    gitskill.main(ACTIONS)
