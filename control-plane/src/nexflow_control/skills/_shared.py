"""The `shared:` field of SKILL.md: files a skill takes from the `_shared/` folder beside it.

``shared: [gitskill.py]`` makes ``<skills root>/_shared/gitskill.py`` the file
``gitskill.py`` at the top of this skill as it is packed: the skill digest covers it
under that name and content, and the bundle an executor receives carries it, so several
skills can ship one module kept once in the repository while each bundle stays whole
(nothing outside the bundle is ever mounted). A `_shared` folder holds no SKILL.md, so
the catalog never loads it as a skill.

A packed copy of the skill (installed from a folder or an archive) already holds the
file itself: a name found in the skill's own folder, and not in `_shared/` beside it,
is that copy's file and needs nothing more. Errors (the skill is not loaded): a name
that is not a plain file name, listed twice, found in neither place, found in both
(which one ran would be a guess), or in `_shared/` as a link or anything but a regular
file.
"""

from __future__ import annotations

import re
import stat
from pathlib import Path

from ._context import Checker
from ._diagnostics import Code

SHARED_DIR = "_shared"
SHARED_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
MAX_SHARED = 16


def read_shared(ck: Checker, skill_dir: Path) -> tuple[tuple[str, Path], ...]:
    """(name in the skill, file in `_shared/`) for each listed file taken from beside;
    errors name the entry at fault."""
    names = ck.string_list(ck.doc.frontmatter, "shared", "shared")
    if len(names) > MAX_SHARED:
        ck.add("shared", Code.BAD_VALUE, f"at most {MAX_SHARED} shared files")
        return ()
    beside = skill_dir.parent / SHARED_DIR
    seen: set[str] = set()
    out: list[tuple[str, Path]] = []
    for index, name in enumerate(names):
        where = f"shared[{index}]"
        if not SHARED_NAME.match(name) or name in (".", ".."):
            ck.add(where, Code.BAD_PATH, f"{name[:70]!r} is not a plain file name in _shared/")
            continue
        if name in seen:
            ck.add(where, Code.BAD_VALUE, f"shared file {name!r} is listed twice")
            continue
        seen.add(name)
        source = beside / name
        own = skill_dir / name
        try:
            mode = source.lstat().st_mode
        except FileNotFoundError:
            mode = None
        except OSError as exc:
            ck.add(where, Code.BAD_PATH, f"{SHARED_DIR}/{name} cannot be read ({exc.strerror})")
            continue
        in_folder = own.exists() or own.is_symlink()
        if mode is None:
            if not in_folder:
                ck.add(
                    where,
                    Code.REQUIREMENT_FILE_MISSING,
                    f"{name!r} is neither in {SHARED_DIR}/ beside the skill nor in its folder",
                )
            continue  # a packed copy: the file is the folder's own
        if in_folder:
            ck.add(
                where,
                Code.BAD_PATH,
                f"{name!r} is both in {SHARED_DIR}/ and in the skill's folder: keep one",
            )
        elif not stat.S_ISREG(mode):
            ck.add(where, Code.BAD_PATH, f"{SHARED_DIR}/{name} is not a regular file")
        else:
            out.append((name, source))
    return tuple(out)
