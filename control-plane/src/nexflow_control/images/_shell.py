"""Checks of what ``RUN`` (and ``COPY``/``ADD --chmod``) does, all on the command text.

The command text is split into simple commands on ``&&``, ``||``, ``;``,
``|`` and newlines (heredoc bodies included), which is coarse but enough for:

* ``apt_install_recommends`` (warning): ``apt-get install`` without
  ``--no-install-recommends`` pulls in packages nobody asked for.
* ``apt_lists_not_cleaned`` (warning): a RUN that runs apt but leaves
  ``/var/lib/apt/lists`` in its layer (no ``rm -rf /var/lib/apt/lists/*`` and no
  cache mount on ``/var/lib/apt``).
* ``pipe_to_shell`` (warning): ``curl ... | sh`` runs whatever the server sends.
* ``setuid_bit`` (error): ``chmod u+s``/``+s``/``4755``/``g+s``, ``install -m 4755``
  or ``COPY --chmod=4755``: the runtime images strip setuid/setgid bits, and an
  image that adds them back is suspicious.
* ``sudo_in_run`` (warning): builds run as root already; ``sudo`` in an image
  usually means it is installed for the skill to use at run time.
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path

from ._diagnostics import Code, Diagnostic, diag
from ._dockerfile import Instruction
from ._words import expand, raw_shell_words

_SPLIT = re.compile(r"&&|\|\||[;\n&()`]|\$\(")
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_SHELLS = frozenset({"sh", "bash", "dash", "zsh", "ksh", "ash"})
_SHELL_OF_DOWNLOAD = re.compile(
    r"\b(?:ba|da|z|k|a)?sh\s+(?:-\S+\s+){0,4}(?:<\(|\"?\$\()\s*(?:curl|wget)\b"
)
_WRAPPERS = frozenset({"sudo", "env", "exec", "nice", "nohup", "time"})
_OCTAL = re.compile(r"^[0-7]{1,5}$")
_CLAUSE = re.compile(r"^([ugoa]*)((?:[-+=][rwxXstugo]*)+)$")
_APT = frozenset({"apt-get", "apt", "aptitude"})


def sets_special_bits(mode: str) -> bool:
    """True when a chmod mode adds the setuid or setgid bit (``u+s``, ``+s``, ``4755``)."""
    if _OCTAL.match(mode):
        return len(mode) >= 4 and int(mode[-4]) & 6 != 0
    for clause in mode.split(","):
        match = _CLAUSE.match(clause)
        if match is None:
            continue
        who, ops = match.groups()
        if who and not set(who) & set("uga"):
            continue
        if any(op in "+=" and "s" in perms for op, perms in re.findall(r"([-+=])(\w*)", ops)):
            return True
    return False


def _tokens(command: str) -> list[str]:
    words = raw_shell_words(command)
    cut = next((i for i, word in enumerate(words) if word.startswith("#")), len(words))
    tokens = [expand(word, None).value for word in words[:cut]]
    while tokens and _ASSIGNMENT.match(tokens[0]):
        tokens = tokens[1:]
    return [tokens[0].rsplit("/", 1)[-1], *tokens[1:]] if tokens else []


def _pipelines(script: str) -> list[list[list[str]]]:
    """Simple commands (first word without its directory) grouped into pipelines."""
    pipelines = [[_tokens(part) for part in segment.split("|")] for segment in _SPLIT.split(script)]
    return [[command for command in pipeline if command] for pipeline in pipelines]


def _unwrap(command: list[str]) -> list[str]:
    """The command from the program it runs on, past ``sudo``/``env`` and their options."""
    index = 0
    while index < len(command) - 1 and (
        command[index] in _WRAPPERS
        or command[index].startswith("-")
        or _ASSIGNMENT.match(command[index])
    ):
        index += 1
    rest = command[index:]
    return [rest[0].rsplit("/", 1)[-1], *rest[1:]] if rest else []


def _pipes_download_to_shell(script: str, pipelines: list[list[list[str]]]) -> bool:
    for pipeline in pipelines:
        programs = [_unwrap(command)[0] for command in pipeline]
        fetch = next((i for i, p in enumerate(programs) if p in ("curl", "wget")), None)
        if fetch is not None and any(p in _SHELLS for p in programs[fetch + 1 :]):
            return True
    return _SHELL_OF_DOWNLOAD.search(script) is not None


def _mode_args(command: list[str]) -> list[str]:
    name, args = command[0], command[1:]
    if name == "chmod":
        return [next((a for a in args if not a.startswith("-")), "")]
    if name == "install":
        modes = [b for a, b in itertools.pairwise(args) if a in ("-m", "--mode")]
        return modes + [a.split("=", 1)[1] for a in args if a.startswith("--mode=")]
    return []


def check_run(
    path: Path, instr: Instruction, recommends_configured: bool = False
) -> list[Diagnostic]:
    """The RUN checks above for one RUN instruction."""
    out: list[Diagnostic] = []

    def add(code: Code, message: str) -> None:
        if all(d.code is not code for d in out):
            out.append(diag(path, instr.line, instr.keyword, code, message))

    script = instr.script
    pipelines = _pipelines(script)
    uses_apt = False
    for written in (command for pipeline in pipelines for command in pipeline):
        if written[0] == "sudo":
            add(Code.SUDO_IN_RUN, "sudo in RUN: the build runs as root already; do not ship sudo")
        command = _unwrap(written)
        if command[0] in _APT and any(a in ("install", "update", "upgrade") for a in command):
            uses_apt = True
            no_recommends = "--no-install-recommends" in command or recommends_configured
            if "install" in command and not no_recommends:
                add(
                    Code.APT_INSTALL_RECOMMENDS,
                    "apt-get install without --no-install-recommends installs extra packages",
                )
        if any(sets_special_bits(mode) for mode in _mode_args(command)):
            add(Code.SETUID_BIT, "adds a setuid/setgid bit; skill images must not carry any")
    cache_mount = any(
        "/var/lib/apt" in flag for flag in instr.flags if flag.lower().startswith("--mount")
    )
    if uses_apt and "/var/lib/apt/lists" not in script and not cache_mount:
        add(
            Code.APT_LISTS_NOT_CLEANED,
            "apt leaves /var/lib/apt/lists in this layer; end the RUN with "
            "'rm -rf /var/lib/apt/lists/*'",
        )
    if _pipes_download_to_shell(script, pipelines):
        add(
            Code.PIPE_TO_SHELL,
            "downloads a script and pipes it into a shell; download to a file, verify its "
            "checksum, then run it",
        )
    return out


def check_chmod_flag(path: Path, instr: Instruction) -> list[Diagnostic]:
    """``COPY``/``ADD --chmod=`` that sets a setuid/setgid bit."""
    mode = instr.flag("chmod")
    if mode is None or not sets_special_bits(mode):
        return []
    message = "--chmod adds a setuid/setgid bit; skill images must not carry any"
    return [diag(path, instr.line, instr.keyword, Code.SETUID_BIT, message)]
