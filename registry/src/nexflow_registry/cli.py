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


def _rotation(args: argparse.Namespace) -> int:
    old = signing.load_private(Path(args.old_key).expanduser())
    new_public = Path(args.new_key).expanduser().with_suffix(".pub").read_text().strip()
    body = {
        "old_key_id": signing.key_id(signing.public_b64(old.public_key())),
        "new_public_key": new_public,
        "signature": signing.sign_rotation(old, args.publisher, new_public),
    }
    print(json.dumps(body, sort_keys=True))
    return 0


def _scan(args: argparse.Namespace) -> int:
    from .scan import scan_folder

    report = scan_folder(Path(args.folder))
    if args.json:
        print(report.model_dump_json())
    else:
        for f in report.findings:
            print(f"{f.file}:{f.line}: {f.severity}: {f.message} [{f.rule}]")
        print(f"verdict: {report.verdict}")
    return 1 if report.verdict == "block" else 0


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
    rotate = sub.add_parser(
        "rotation", help="the body of POST /api/v1/publishers/NAME/keys/rotate, signed"
    )
    rotate.add_argument("--publisher", required=True)
    rotate.add_argument("--old-key", required=True, help="the current private key")
    rotate.add_argument("--new-key", required=True, help="the new private key (its .pub is read)")
    rotate.set_defaults(run=_rotation)
    scan = sub.add_parser("scan", help="scan a skill folder as the registry does at publish")
    scan.add_argument("folder")
    scan.add_argument("--json", action="store_true")
    scan.set_defaults(run=_scan)
    args = parser.parse_args(argv)
    code: int = args.run(args)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
