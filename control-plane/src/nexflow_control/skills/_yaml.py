"""A safe YAML reader that remembers the line of every key.

PyYAML's ``SafeLoader`` composes the node graph (which carries marks); we then
build plain Python values ourselves so that we can:

* record the 0-based line of every dotted field path (``sandbox.filesystem[0].mode``),
* refuse aliases outright (no billion-laughs expansion, no shared nodes),
* refuse every tag that is not a plain JSON-like type (``!!python/object``,
  ``!!binary``, ``!!set``, local ``!tags``...); timestamps stay strings,
* report duplicate keys instead of silently keeping the last one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from ._diagnostics import Code

_TAG = "tag:yaml.org,2002:"
_PLAIN_SCALARS = {_TAG + "null", _TAG + "bool", _TAG + "int", _TAG + "float"}
_MAX_DEPTH = 64


class YamlProblem(Exception):
    """A fatal problem in the YAML text (``line`` is 0-based within the text)."""

    def __init__(self, code: Code, line: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.line = line
        self.message = message


@dataclass
class YamlDoc:
    data: Any
    lines: dict[str, int] = field(default_factory=dict)
    duplicates: list[tuple[str, int]] = field(default_factory=list)


class _NoAliasLoader(yaml.SafeLoader):
    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            raise YamlProblem(
                Code.YAML_ALIAS,
                event.start_mark.line,
                "YAML aliases (*name) are not allowed in SKILL.md",
            )
        return super().compose_node(parent, index)


def join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def parse_yaml(text: str) -> YamlDoc:
    """Parse one YAML document; raise `YamlProblem` for anything unsafe or broken."""
    loader = _NoAliasLoader(text)
    try:
        node = loader.get_single_node()
        doc = YamlDoc(data=None)
        if node is not None:
            doc.data = _build(loader, node, "", doc, 0)
        return doc
    except YamlProblem:
        raise
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line if mark is not None else 0
        problem = exc.problem or "invalid YAML"
        raise YamlProblem(Code.YAML_SYNTAX, line, f"invalid YAML: {problem}") from None
    except yaml.YAMLError as exc:
        raise YamlProblem(Code.YAML_SYNTAX, 0, f"invalid YAML: {exc}") from None
    except RecursionError:
        raise YamlProblem(Code.YAML_SYNTAX, 0, "YAML is nested too deeply") from None
    finally:
        loader.dispose()


def _build(loader: Any, node: Any, path: str, doc: YamlDoc, depth: int) -> Any:
    line = node.start_mark.line
    if depth > _MAX_DEPTH:
        raise YamlProblem(Code.YAML_SYNTAX, line, "YAML is nested too deeply")
    if isinstance(node, yaml.MappingNode):
        if node.tag != _TAG + "map":
            raise YamlProblem(Code.YAML_TAG, line, f"YAML tag {node.tag!r} is not allowed")
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise YamlProblem(
                    Code.YAML_SYNTAX, key_node.start_mark.line, "mapping keys must be plain"
                )
            key = str(key_node.value)
            child = join(path, key)
            if key in out:
                doc.duplicates.append((child, key_node.start_mark.line))
            doc.lines[child] = key_node.start_mark.line
            out[key] = _build(loader, value_node, child, doc, depth + 1)
        return out
    if isinstance(node, yaml.SequenceNode):
        if node.tag != _TAG + "seq":
            raise YamlProblem(Code.YAML_TAG, line, f"YAML tag {node.tag!r} is not allowed")
        items: list[Any] = []
        for index, item in enumerate(node.value):
            child = f"{path}[{index}]"
            doc.lines[child] = item.start_mark.line
            items.append(_build(loader, item, child, doc, depth + 1))
        return items
    return _scalar(loader, node)


def _scalar(loader: Any, node: Any) -> Any:
    tag = node.tag
    if tag in (_TAG + "str", _TAG + "timestamp"):
        return str(node.value)
    if tag in _PLAIN_SCALARS:
        try:
            return loader.construct_object(node)
        except (ValueError, yaml.YAMLError):
            raise YamlProblem(
                Code.YAML_SYNTAX, node.start_mark.line, f"bad scalar {node.value[:40]!r}"
            ) from None
    raise YamlProblem(Code.YAML_TAG, node.start_mark.line, f"YAML tag {tag!r} is not allowed")
