"""Build stages: ARGs before FROM, ``FROM`` resolution, image references, per-stage state.

`analyse` walks the instructions once. It resolves each ``FROM`` through the
global ``ARG`` defaults (``FROM ${BASE}``), links a stage to the earlier stage
it is built ``FROM``, and records each stage's ``USER`` and ``LABEL`` values
with ``$VAR`` substituted from the stage's ``ARG``/``ENV`` so far.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ._diagnostics import Code, Diagnostic, diag
from ._dockerfile import Dockerfile, Instruction
from ._words import Expansion, expand

_DOMAIN = re.compile(
    r"^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*"
    r"(?::[0-9]+)?$"
)
_COMPONENT = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
_TAG = re.compile(r"^\w[\w.-]{0,127}$", re.ASCII)
_DIGEST = re.compile(r"^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$")
_HUB_PREFIXES = ("docker.io/", "index.docker.io/", "registry-1.docker.io/")


@dataclass(frozen=True, slots=True)
class ImageRef:
    """``name[:tag][@digest]`` with Docker Hub's ``docker.io/`` prefix dropped from ``name``."""

    name: str
    tag: str | None
    digest: str | None


def parse_image(ref: str) -> ImageRef | None:
    """An image reference per the distribution grammar, or None when it is not valid."""
    rest, at, digest = ref.partition("@")
    if at and not _DIGEST.match(digest):
        return None
    slash = rest.rfind("/")
    colon = rest.rfind(":")
    tag = None
    if colon > slash:
        rest, tag = rest[:colon], rest[colon + 1 :]
        if not _TAG.match(tag):
            return None
    parts = rest.split("/")
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        if not _DOMAIN.match(parts[0]):
            return None
        parts = parts[1:]
    if not all(_COMPONENT.match(part) for part in parts):
        return None
    for prefix in _HUB_PREFIXES:
        rest = rest.removeprefix(prefix)
    return ImageRef(rest, tag, digest if at else None)


@dataclass
class Stage:
    """One ``FROM`` and the instructions up to the next one."""

    index: int
    from_: Instruction
    image: str | None
    name: str | None = None
    parent: Stage | None = None
    body: list[Instruction] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    users: list[tuple[Instruction, Expansion]] = field(default_factory=list)
    labels: dict[str, tuple[Expansion, Instruction]] = field(default_factory=dict)

    def lineage(self) -> list[Stage]:
        """This stage and the earlier stages it is built from, oldest first."""
        chain: list[Stage] = []
        stage: Stage | None = self
        while stage is not None and stage not in chain:
            chain.insert(0, stage)
            stage = stage.parent
        return chain


@dataclass
class Build:
    global_args: list[Instruction] = field(default_factory=list)
    stages: list[Stage] = field(default_factory=list)
    defaults: dict[str, str] = field(default_factory=dict)


class _Analyser:
    def __init__(self, doc: Dockerfile) -> None:
        self.doc = doc
        self.build = Build()
        self.diagnostics: list[Diagnostic] = []
        self.declared: set[str] = set()
        self.named: dict[str, Stage] = {}

    def problem(self, instr: Instruction, fld: str, code: Code, message: str) -> None:
        self.diagnostics.append(diag(self.doc.path, instr.line, fld, code, message))

    def run(self) -> Build:
        scope: dict[str, str] = {}
        for instr in self.doc.instructions:
            if instr.keyword == "FROM":
                scope = self.start_stage(instr)
            elif not self.build.stages:
                self.before_from(instr)
            else:
                self.in_stage(self.build.stages[-1], instr, scope)
        return self.build

    def before_from(self, instr: Instruction) -> None:
        if instr.keyword != "ARG":
            message = f"{instr.keyword} before the first FROM (only ARG may come first)"
            self.problem(instr, instr.keyword, Code.INSTRUCTION_BEFORE_FROM, message)
            return
        self.build.global_args.append(instr)
        for key, value in instr.pairs:
            self.declared.add(key)
            if value is not None:
                self.build.defaults[key] = expand(value, self.build.defaults, self.doc.escape).value

    def start_stage(self, instr: Instruction) -> dict[str, str]:
        words = instr.words
        if len(words) not in (1, 3) or (len(words) == 3 and words[1].lower() != "as"):
            self.problem(
                instr, "FROM", Code.SYNTAX_ERROR, "use FROM [--platform=...] IMAGE [AS NAME]"
            )
        image: str | None = None
        if words:
            image = self.resolve(instr, words[0])
        stage = Stage(len(self.build.stages), instr, image)
        if len(words) == 3:
            stage.name = expand(words[2], self.build.defaults, self.doc.escape).value.lower()
        if image is not None:
            stage.parent = self.named.get(image.lower())
        if stage.name:
            self.named.setdefault(stage.name, stage)
        if stage.parent is not None:
            stage.env = dict(stage.parent.env)
        self.build.stages.append(stage)
        return dict(stage.env)

    def resolve(self, instr: Instruction, word: str) -> str | None:
        result = expand(word, self.build.defaults, self.doc.escape)
        if result.error is not None:
            self.problem(instr, "FROM", Code.SYNTAX_ERROR, f"FROM image: {result.error}")
            return None
        if result.unresolved:
            names = ", ".join(sorted(set(result.unresolved)))
            why = "has no default" if set(result.unresolved) <= self.declared else "is not set"
            message = (
                f"the base image uses build argument(s) {names}, which {why}; give the ARG "
                "before FROM a default so the base image is fixed by the Dockerfile"
            )
            self.problem(instr, "FROM", Code.UNRESOLVED_BASE, message)
            return None
        return result.value

    def in_stage(self, stage: Stage, instr: Instruction, scope: dict[str, str]) -> None:
        stage.body.append(instr)
        escape = self.doc.escape
        if instr.keyword == "ARG":
            for key, value in instr.pairs:
                if key in stage.env:
                    continue
                if value is not None:
                    scope[key] = expand(value, scope, escape).value
                elif key in self.build.defaults:
                    scope[key] = self.build.defaults[key]
        elif instr.keyword == "ENV":
            for key, value in instr.pairs:
                name = expand(key, scope, escape).value
                stage.env[name] = scope[name] = expand(value or "", scope, escape).value
        elif instr.keyword == "USER" and instr.words:
            stage.users.append((instr, expand(instr.words[0], scope, escape)))
        elif instr.keyword == "LABEL":
            for key, value in instr.pairs:
                name = expand(key, scope, escape).value
                stage.labels[name] = (expand(value or "", scope, escape), instr)


def analyse(doc: Dockerfile) -> tuple[Build, list[Diagnostic]]:
    """The build's stages and global ARGs, and the problems found resolving FROM."""
    analyser = _Analyser(doc)
    return analyser.run(), analyser.diagnostics
