"""A safe YAML reader that remembers the line of every key.

PyYAML composes the node graph (which carries marks) — with libyaml's C parser when
it is there, the pure-Python one otherwise; we then build plain Python values
ourselves so that we can:

* record the 0-based line of every dotted field path (``sandbox.filesystem[0].mode``),
* refuse aliases outright (no billion-laughs expansion, no shared nodes): an alias
  composes to a node already seen, which the builder notices by identity,
* refuse every tag that is not a plain JSON-like type (``!!python/object``,
  ``!!binary``, ``!!set``, merge keys ``<<``, local ``!tags``...); timestamps stay strings,
* refuse scalars with no plain JSON form (`scalar_problem`: ``.inf``, ``.nan``, huge
  integers, escaped control characters or lone surrogates),
* report duplicate keys instead of silently keeping the last one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from ._diagnostics import Code
from ._values import scalar_problem

_TAG = "tag:yaml.org,2002:"
_PLAIN_SCALARS = {_TAG + "null", _TAG + "bool", _TAG + "int", _TAG + "float"}
_KEY_TAGS = {_TAG + "str", *_PLAIN_SCALARS}
_MAX_DEPTH = 64
_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class YamlProblem(Exception):
    """A fatal problem in the YAML text (``line`` is 0-based within the text)."""

    def __init__(self, code: Code, line: int, message: str, field: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.line = line
        self.message = message
        self.field = field


@dataclass
class YamlDoc:
    data: Any
    lines: dict[str, int] = field(default_factory=dict)
    duplicates: list[tuple[str, int]] = field(default_factory=list)


def join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def parse_yaml(text: str) -> YamlDoc:
    """Parse one YAML document; raise `YamlProblem` for anything unsafe or broken."""
    loader = None
    try:
        loader = _Loader(text)
        node = loader.get_single_node()
        doc = YamlDoc(data=None)
        if node is not None:
            doc.data = _Builder(loader, doc).build(node, "", 0)
        return doc
    except YamlProblem:
        raise
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        # libyaml counts a line break after the last line; no file line is past the text
        line = min(mark.line, text.count("\n")) if mark is not None else 0
        problem = exc.problem or "invalid YAML"
        raise YamlProblem(Code.YAML_SYNTAX, line, f"invalid YAML: {problem}") from None
    except (yaml.YAMLError, ValueError) as exc:
        message = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise YamlProblem(Code.YAML_SYNTAX, 0, f"invalid YAML: {message}") from None
    except RecursionError:
        raise YamlProblem(Code.YAML_SYNTAX, 0, "YAML is nested too deeply") from None
    finally:
        if loader is not None:
            loader.dispose()


class _Builder:
    """Plain values from a composed node graph; every node may be used once."""

    def __init__(self, loader: Any, doc: YamlDoc) -> None:
        self.loader = loader
        self.doc = doc
        self.seen: set[int] = set()

    def build(self, node: Any, path: str, depth: int) -> Any:
        line = node.start_mark.line
        if depth > _MAX_DEPTH:
            raise YamlProblem(Code.YAML_SYNTAX, line, "YAML is nested too deeply")
        if id(node) in self.seen:
            where = self.doc.lines.get(path, line)
            raise YamlProblem(Code.YAML_ALIAS, where, "YAML aliases (*name) are not allowed", path)
        self.seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path, depth)
        if isinstance(node, yaml.SequenceNode):
            if node.tag != _TAG + "seq":
                message = f"YAML tag {node.tag!r} is not allowed"
                raise YamlProblem(Code.YAML_TAG, line, message, path)
            items: list[Any] = []
            for index, item in enumerate(node.value):
                child = f"{path}[{index}]"
                self.doc.lines[child] = item.start_mark.line
                items.append(self.build(item, child, depth + 1))
            return items
        return self._scalar(node, path)

    def _mapping(self, node: Any, path: str, depth: int) -> dict[str, Any]:
        if node.tag != _TAG + "map":
            message = f"YAML tag {node.tag!r} is not allowed"
            raise YamlProblem(Code.YAML_TAG, node.start_mark.line, message, path)
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key_line = key_node.start_mark.line
            if not isinstance(key_node, yaml.ScalarNode):
                raise YamlProblem(Code.YAML_SYNTAX, key_line, "mapping keys must be plain")
            if key_node.tag not in _KEY_TAGS:
                raise YamlProblem(
                    Code.YAML_TAG, key_line, f"YAML key tag {key_node.tag!r} is not allowed"
                )
            key = str(key_node.value)
            if (problem := scalar_problem(key)) is not None:
                raise YamlProblem(Code.UNSAFE_VALUE, key_line, f"key: {problem}", path)
            child = join(path, key)
            if key in out:
                self.doc.duplicates.append((child, key_line))
            self.doc.lines[child] = key_line
            out[key] = self.build(value_node, child, depth + 1)
        return out

    def _scalar(self, node: Any, path: str) -> Any:
        tag, line = node.tag, node.start_mark.line
        if tag in (_TAG + "str", _TAG + "timestamp"):
            value: Any = str(node.value)
        elif tag in _PLAIN_SCALARS:
            try:
                value = self.loader.construct_object(node)
            except (ValueError, yaml.YAMLError):
                raise YamlProblem(
                    Code.YAML_SYNTAX, line, f"bad scalar {node.value[:40]!r}", path
                ) from None
        else:
            raise YamlProblem(Code.YAML_TAG, line, f"YAML tag {tag!r} is not allowed", path)
        if (problem := scalar_problem(value)) is not None:
            raise YamlProblem(Code.UNSAFE_VALUE, line, problem, path)
        return value
