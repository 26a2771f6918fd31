#!/usr/bin/env python3
"""data-query: select, filter, project, sort and cut JSON, YAML or CSV (stdin: JSON input,
stdout: JSON result). The data is hostile: it is read with a size cap, deep nesting is an
error (not a crash), YAML is read with safe_load only (no Python objects) and its aliases
are bounded by the size they expand to, and the path language has no evaluation of any kind.
"""

import base64
import csv
import datetime
import io
import json
import os
import re
import stat
import sys

MAX_FILE = 16 << 20
MAX_ITEMS = 10000
# A YAML document may repeat a node through aliases (`*a`); what it costs is the size the
# document has once every alias is written out (which is what the JSON answer would be),
# so that expanded size is capped, not the text's: a billion-laughs document is a few
# hundred bytes.
MAX_YAML_NODES = 1_000_000
# libyaml reads about 1 MB of YAML a second here (four times slower than JSON): a bigger
# document is refused rather than left to hit the call's time limit.
MAX_YAML_TEXT = 4 << 20
_TOKEN = re.compile(r'\.?([A-Za-z_][\w-]*)|\[(\*|-?\d+)\]|\["((?:[^"\\]|\\.)*)"\]')
_OPS = ("eq", "ne", "lt", "le", "gt", "ge", "contains", "exists")


def fail(code, message):
    print(json.dumps({"error": code, "message": message}))
    sys.exit(1)


def read_input():
    try:
        data = json.load(sys.stdin)
    except ValueError as exc:
        fail("bad_input", f"input is not JSON: {exc}")
    if not isinstance(data, dict):
        fail("bad_input", "input must be a JSON object")
    if (data.get("path") is None) == (data.get("text") is None):
        fail("bad_input", "give exactly one of 'path' and 'text'")
    for key in ("where", "fields"):
        if not isinstance(data.get(key, []), list):
            fail("bad_input", f"'{key}' must be a list")
    limit = data.get("limit", 1000)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 0 <= limit <= MAX_ITEMS:
        fail("bad_input", f"'limit' must be an integer from 0 to {MAX_ITEMS}")
    return data


def read_file(path):
    root = os.path.realpath(os.environ.get("NEXFLOW_WORKSPACE", "/workspace"))
    if not isinstance(path, str) or not path or "\0" in path:
        fail("bad_input", "'path' must be a non-empty string")
    real = os.path.realpath(os.path.join(root, path))
    if not real.startswith(root + os.sep):
        fail("outside_workspace", f"{path!r} is outside the workspace")
    try:
        fd = os.open(real, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        fail("not_found" if exc.errno == 2 else "cannot_read", f"{path!r}: {exc.strerror}")
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
            fail("not_a_file", f"{path!r} is not a regular file")
        raw = fh.read(MAX_FILE + 1)
    if len(raw) > MAX_FILE:
        fail("too_large", f"{path!r} is larger than {MAX_FILE} bytes")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        fail("bad_data", f"{path!r} is not UTF-8 text")


def load_yaml(text):
    """The YAML document as JSON-shaped data. PyYAML is Debian's python3-yaml, found in
    dist-packages, which the sandbox's `python3 -I -S` leaves off sys.path."""
    if "/usr/lib/python3/dist-packages" not in sys.path:
        sys.path.append("/usr/lib/python3/dist-packages")
    try:
        import yaml
    except ImportError:
        fail("unsupported", "this sandbox has no YAML parser (Debian's python3-yaml)")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # safe tags only, either way
    try:
        # libyaml builds the tree recursively in C: 100,000 nested `[` crash the process
        # (SIGSEGV) rather than raise. Its event stream is flat, so the depth is measured
        # there first, and the document is built only when it is sane.
        depth = 0
        for event in yaml.parse(text, Loader=loader):
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > 500:
                    fail("bad_data", "the YAML is nested too deeply")
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
        data = yaml.load(text, Loader=loader)  # noqa: S506 - a SafeLoader: no object tags
    except RecursionError:
        fail("bad_data", "the YAML is nested too deeply")
    except yaml.YAMLError as exc:
        fail("bad_data", f"not valid YAML: {str(exc)[:500]}")
    expanded_size(data)
    return plain(data)


def expanded_size(data):
    """The number of nodes `data` has with every shared (aliased) node counted each time it
    is used; fails past MAX_YAML_NODES, and on a node that contains itself."""
    sizes, busy = {}, set()

    def size(node, depth):
        if not isinstance(node, (list, dict)):
            return 1
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in busy:
            fail("bad_data", "the YAML contains a node that contains itself (a recursive alias)")
        if depth > 500:
            fail("bad_data", "the YAML is nested too deeply")
        busy.add(key)
        total = 1
        for child in node.values() if isinstance(node, dict) else node:
            total += size(child, depth + 1)
            if total > MAX_YAML_NODES:
                fail("too_large", f"the YAML expands to more than {MAX_YAML_NODES} nodes")
        busy.discard(key)
        sizes[key] = total
        return total

    size(data, 0)


def plain(node):
    """JSON's types for YAML's: timestamps as ISO 8601 text, !!binary as base64, keys as text."""
    if isinstance(node, dict):
        return {key_text(k): plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [plain(v) for v in node]
    if isinstance(node, (datetime.date, datetime.datetime)):
        return node.isoformat()
    if isinstance(node, bytes):
        return base64.b64encode(node).decode()
    if isinstance(node, float) and (node != node or node in (float("inf"), float("-inf"))):
        return str(node)  # JSON has no NaN or infinity
    return node


def key_text(key):
    if isinstance(key, str):
        return key
    if key is None or isinstance(key, bool):
        return json.dumps(key)  # null, true, false: as JSON would write them
    return str(plain(key))


def parse(text, fmt):
    if fmt == "yaml":
        if len(text) > MAX_YAML_TEXT:
            fail("too_large", f"YAML is read up to {MAX_YAML_TEXT} characters")
        return load_yaml(text)
    if fmt == "csv":
        try:
            rows = list(csv.DictReader(io.StringIO(text, newline="")))
        except csv.Error as exc:
            fail("bad_data", f"not valid CSV: {exc}")
        return [{k: v for k, v in row.items() if k is not None} for row in rows]
    try:
        return json.loads(text)
    except RecursionError:
        fail("bad_data", "the JSON is nested too deeply")
    except ValueError as exc:
        fail("bad_data", f"not valid JSON: {exc}")


def tokens(expr):
    out, pos = [], 0
    while pos < len(expr):
        match = _TOKEN.match(expr, pos)
        if match is None or match.end() == pos:
            fail("bad_input", f"cannot read the path {expr!r} at character {pos + 1}")
        name, index, quoted = match.groups()
        if name is not None:
            out.append(name)
        elif index is not None:
            out.append("*" if index == "*" else int(index))
        else:
            out.append(json.loads(f'"{quoted}"'))
        pos = match.end()
    return out


def has(value, step):
    """Whether `value[step]` exists: an index into a list, or a key of an object."""
    if isinstance(step, int):
        return isinstance(value, list) and -len(value) <= step < len(value)
    return isinstance(value, dict) and step in value


def walk(value, steps):
    """Values at `steps` below `value`, and whether a [*] made it a list."""
    values, fanned = [value], False
    for step in steps:
        nxt = []
        for v in values:
            if step == "*":
                fanned = True
                nxt.extend(v if isinstance(v, list) else v.values() if isinstance(v, dict) else [])
            elif has(v, step):
                nxt.append(v[step])
        values = nxt
    return values, fanned


def get(value, expr):
    found, _ = walk(value, tokens(expr))
    return (True, found[0]) if found else (False, None)


def comparable(a, b):
    for cast in (float,):
        try:
            return cast(a), cast(b)
        except (TypeError, ValueError):
            pass
    return str(a), str(b)


def test(item, cond):
    if (
        not isinstance(cond, dict)
        or cond.get("op") not in _OPS
        or not isinstance(cond.get("field"), str)
    ):
        fail("bad_input", "each 'where' entry needs a 'field' string and a known 'op'")
    present, value = get(item, cond["field"])
    op, want = cond["op"], cond.get("value")
    if op == "exists":
        return present == (want is not False)
    if not present:
        return op == "ne"
    if op == "contains":
        return (
            str(want) in value
            if isinstance(value, str)
            else want in value
            if isinstance(value, list)
            else False
        )
    if op in ("eq", "ne"):
        same = value == want or (
            not isinstance(value, bool) and comparable(value, want)[0] == comparable(value, want)[1]
        )
        return same if op == "eq" else not same
    a, b = comparable(value, want)
    try:
        return {"lt": a < b, "le": a <= b, "gt": a > b, "ge": a >= b}[op]
    except TypeError:
        return False


def sort_key(item, field):
    present, value = get(item, field)
    if not present or value is None:
        return (2, 0.0, "")
    try:
        return (0, float(value), "")
    except (TypeError, ValueError):
        return (1, 0.0, str(value))


def to_csv(items):
    buffer = io.StringIO()
    header = []
    for item in items:
        for key in item if isinstance(item, dict) else ["value"]:
            if key not in header:
                header.append(key)
    writer = csv.DictWriter(buffer, fieldnames=header, lineterminator="\n")
    writer.writeheader()
    for item in items:
        row = item if isinstance(item, dict) else {"value": item}
        writer.writerow(
            {k: json.dumps(v) if isinstance(v, (dict, list)) else v for k, v in row.items()}
        )
    return buffer.getvalue()


def main():
    args = read_input()
    fmt = args.get("format", "auto")
    if args.get("text") is not None:
        text = args["text"] if isinstance(args["text"], str) else fail("bad_input", "'text'")
    else:
        text = read_file(args["path"])
    if fmt == "auto":
        name = str(args.get("path", "")).lower()
        fmt = (
            "csv"
            if name.endswith((".csv", ".tsv"))
            else "yaml"
            if name.endswith((".yaml", ".yml"))
            else "json"
        )
    if fmt not in ("json", "csv", "yaml"):
        fail("bad_input", "'format' must be auto, json, yaml or csv")
    data = parse(text, fmt)
    found, fanned = walk(data, tokens(args["select"])) if args.get("select") else ([data], False)
    if not found:
        fail("not_found", f"nothing at {args['select']!r}")
    result = found if fanned else found[0]
    listed = isinstance(result, list)
    items = result if listed else [result]
    for cond in args.get("where", []):
        items = [item for item in items if test(item, cond)]
    if args.get("fields"):
        items = [{f: get(item, f)[1] for f in args["fields"] if get(item, f)[0]} for item in items]
    if args.get("sort_by"):
        items.sort(key=lambda i: sort_key(i, args["sort_by"]), reverse=bool(args.get("descending")))
    truncated = len(items) > args.get("limit", 1000)
    items = items[: args.get("limit", 1000)]
    out = {"truncated": truncated}
    if listed or args.get("where") or len(items) != 1:
        out["count"] = len(items)
        value = items
    else:
        value = items[0]
    if args.get("output") == "csv":
        out["csv"] = to_csv(value if isinstance(value, list) else [value])
    else:
        out["result"] = value
    print(f"data-query: {fmt}, {out.get('count', 1)} item(s)", file=sys.stderr)
    print(json.dumps(out, ensure_ascii=False))


if __name__ == "__main__":
    main()
