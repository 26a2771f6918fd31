"""A validation worker process (see `_pool`), run as `python -m` with the number of the
socket it talks on. Nothing in the package imports this module."""

from __future__ import annotations

import json
import os
import sys
from collections import OrderedDict
from dataclasses import astuple
from multiprocessing.connection import Connection
from typing import Any

from ._checking import NEED_SCHEMA, check_input

_SCHEMAS_KEPT = 256


def serve(conn: Connection) -> None:
    """The worker's loop: (key, schema | None, value JSON, root) in, a problem tuple or
    None out (`root`: "input", or "output" for a call's output)."""
    os.nice(10)  # the server's event loop comes first on a busy machine
    schemas: OrderedDict[str, dict[str, Any]] = OrderedDict()
    conn.send("ready")
    while True:
        try:
            key, schema, encoded, root = conn.recv()
        except EOFError:  # the server is gone
            return
        if schema is not None:
            schemas[key] = schema
            if len(schemas) > _SCHEMAS_KEPT:
                schemas.popitem(last=False)  # the server sends it again when asked
        elif key not in schemas:
            conn.send(NEED_SCHEMA)
            continue
        schemas.move_to_end(key)
        problem = check_input(key, schemas[key], json.loads(encoded), root=root)
        conn.send(None if problem is None else astuple(problem))


if __name__ == "__main__":
    serve(Connection(int(sys.argv[1])))
