"""`nexflow-registry serve | keygen | sign`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import signing


def _serve(args: argparse.Namespace) -> int:
    import uvicorn
    from nexflow_common.logs import configure_logging

    from .app import create_app

    configure_logging()  # every line redacted, as in the other services
    app = create_app(Path(args.home).expanduser(), args.database_url, args.origin)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", log_config=None)
    return 0


def _keygen(args: argparse.Namespace) -> int:
    path = Path(args.out).expanduser()
    if path.exists():
        print(f"error: {path} exists; not overwritten", file=sys.stderr)
        return 1
    public = signing.keygen(path)
    print(f"private key: {path} (mode 0600)\npublic key:  {public}")
    return 0


def _sign(args: argparse.Namespace) -> int:
    doc = signing.sign(Path(args.folder), signing.load_private(Path(args.key).expanduser()))
    print(json.dumps(doc.model_dump(), sort_keys=True))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="nexflow-registry", description="Nexflow registry (preview)"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the registry's HTTP API")
    serve.add_argument("--home", default="~/.nexflow-registry")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8090)
    serve.add_argument("--database-url", default=None, help="default: SQLite in --home")
    serve.add_argument("--origin", default="nexflow-registry", help="the checkpoints' origin line")
    serve.set_defaults(run=_serve)
    keygen = sub.add_parser("keygen", help="make an ed25519 publisher key")
    keygen.add_argument("--out", default="~/.nexflow-registry/publisher.key")
    keygen.set_defaults(run=_keygen)
    sign = sub.add_parser("sign", help="sign a skill folder's manifest; prints the signature")
    sign.add_argument("folder")
    sign.add_argument("--key", required=True)
    sign.set_defaults(run=_sign)
    args = parser.parse_args(argv)
    code: int = args.run(args)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
