"""`nexflow certs init|issue`: a CA whose certificates openssl verifies and a real gRPC
mTLS pair accepts, and one clear line for bad input."""

from __future__ import annotations

import stat
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import pytest
from click.testing import Result
from nexflow_control.cli import app
from typer.testing import CliRunner

_METHOD = "/nexflow.test.Who/Ask"


def certs(*args: str) -> Result:
    return CliRunner().invoke(app, ["certs", *args])


def make(folder: Path, *, ip: str = "127.0.0.1") -> Path:
    """A CA in `folder`, an executor `exec-1` for 127.0.0.1 and the control plane's pair."""
    for args in (
        ["init"],
        ["issue", "executor", "exec-1", "--dns", "exec-1.nexflow.internal", "--ip", ip],
        ["issue", "control-plane", "--days", "30"],
    ):
        result = certs(*args, "--dir", str(folder))
        assert result.exit_code == 0, result.output
    return folder


def openssl_verify(folder: Path, cert: str, purpose: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["openssl", "verify", "-CAfile", str(folder / "ca.pem"), "-purpose", purpose, cert],
        capture_output=True,
        text=True,
        check=False,
    )


def test_init_and_issue_write_private_keys_and_print_the_paths(tmp_path: Path) -> None:
    """The folder is 0700, every key 0600, and the output names every file written."""
    folder = tmp_path / "certs"
    result = certs("init", "--dir", str(folder))
    assert result.exit_code == 0, result.output
    assert str(folder / "ca.pem") in result.output and str(folder / "ca.key") in result.output
    issued = certs("issue", "control-plane", "--dir", str(folder))
    assert str(folder / "control-plane.key") in issued.output
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for key in ("ca.key", "control-plane.key"):
        assert stat.S_IMODE((folder / key).stat().st_mode) == 0o600


def test_default_folder_is_home_certs(tmp_path: Path) -> None:
    """Without --dir the CA goes to HOME/certs."""
    result = certs("init", "--home", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "certs" / "ca.key").is_file()


def test_openssl_verifies_each_certificate_for_its_purpose_only(tmp_path: Path) -> None:
    """The executor's cert verifies as a TLS server, the control plane's as a TLS client,
    and neither for the other purpose."""
    folder = make(tmp_path / "certs")
    server, client = str(folder / "executor-exec-1.pem"), str(folder / "control-plane.pem")
    for cert, purpose in ((server, "sslserver"), (client, "sslclient")):
        done = openssl_verify(folder, cert, purpose)
        assert done.returncode == 0 and done.stdout.strip().endswith(": OK"), done.stderr
    assert openssl_verify(folder, server, "sslclient").returncode != 0
    assert openssl_verify(folder, client, "sslserver").returncode != 0
    text = subprocess.run(
        ["openssl", "x509", "-noout", "-ext", "subjectAltName", "-enddate", "-in", client],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "DNS:nexflow-control-plane" in text
    sans = subprocess.run(
        ["openssl", "x509", "-noout", "-ext", "subjectAltName", "-in", server],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "DNS:exec-1.nexflow.internal" in sans and "IP Address:127.0.0.1" in sans


def _ask(request: bytes, context: grpc.ServicerContext) -> bytes:
    """Answers with the SANs of the client certificate the server verified."""
    sans = context.auth_context().get("x509_subject_alternative_name", [])
    return b",".join(sans)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    """A real gRPC server on 127.0.0.1 with the executor's cert, requiring client certs."""
    folder = make(tmp_path / "certs")
    creds = grpc.ssl_server_credentials(
        [
            (
                (folder / "executor-exec-1.key").read_bytes(),
                (folder / "executor-exec-1.pem").read_bytes(),
            )
        ],
        root_certificates=(folder / "ca.pem").read_bytes(),
        require_client_auth=True,
    )
    srv = grpc.server(ThreadPoolExecutor(2))
    handler = grpc.unary_unary_rpc_method_handler(_ask)
    srv.add_generic_rpc_handlers(
        [grpc.method_handlers_generic_handler("nexflow.test.Who", {"Ask": handler})]
    )
    port = srv.add_secure_port("127.0.0.1:0", creds)
    srv.start()
    yield folder, port
    srv.stop(None)


def call(port: int, ca: Path, key: Path, cert: Path, **override: str) -> bytes:
    creds = grpc.ssl_channel_credentials(ca.read_bytes(), key.read_bytes(), cert.read_bytes())
    options = [("grpc.ssl_target_name_override", v) for v in override.values()]
    with grpc.secure_channel(f"127.0.0.1:{port}", creds, options=options) as channel:
        ask = channel.unary_unary(_METHOD)
        answer: bytes = ask(b"", timeout=10)
        return answer


def test_grpc_mtls_accepts_the_issued_pair(server: tuple[Path, int]) -> None:
    """Over TCP the executor's server accepts the control plane's cert and sees its identity
    (by IP SAN and by DNS SAN)."""
    folder, port = server
    pair = (folder / "control-plane.key", folder / "control-plane.pem")
    assert call(port, folder / "ca.pem", *pair) == b"nexflow-control-plane"
    by_name = call(port, folder / "ca.pem", *pair, name="exec-1.nexflow.internal")
    assert by_name == b"nexflow-control-plane"


def test_grpc_mtls_refuses_a_client_cert_from_another_ca(
    server: tuple[Path, int], tmp_path: Path
) -> None:
    """A control-plane cert issued by another CA is refused at the handshake."""
    folder, port = server
    other = make(tmp_path / "other")
    with pytest.raises(grpc.RpcError) as refused:
        call(port, folder / "ca.pem", other / "control-plane.key", other / "control-plane.pem")
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE


def test_grpc_mtls_refuses_a_server_from_another_ca(
    server: tuple[Path, int], tmp_path: Path
) -> None:
    """The control plane refuses an executor whose cert another CA signed."""
    _, port = server
    other = make(tmp_path / "other")
    with pytest.raises(grpc.RpcError) as refused:
        call(port, other / "ca.pem", other / "control-plane.key", other / "control-plane.pem")
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE


def test_an_existing_ca_is_kept_without_force(tmp_path: Path) -> None:
    """A second init says one line, exits 1 and leaves the CA as it was; --force replaces it."""
    folder = tmp_path / "certs"
    certs("init", "--dir", str(folder))
    before = (folder / "ca.key").read_bytes()
    again = certs("init", "--dir", str(folder))
    assert again.exit_code == 1
    assert again.output.strip().splitlines() == [
        f"error: a CA already exists in {folder}; pass --force to replace it "
        "(certificates it issued will no longer be trusted)"
    ]
    assert (folder / "ca.key").read_bytes() == before
    assert certs("init", "--force", "--dir", str(folder)).exit_code == 0
    assert (folder / "ca.key").read_bytes() != before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["executor", "e1", "--dns", "bad name"], "--dns 'bad name': not a DNS name"),
        (["executor", "e1", "--dns", "-x.example"], "--dns '-x.example': not a DNS name"),
        (["executor", "e1", "--ip", "300.1.1.1"], "--ip '300.1.1.1': not an IPv4 or IPv6"),
        (["executor", "E_1"], "executor name 'E_1'"),
        (["executor", "e1", "--dns", "nexflow-control-plane"], "the control plane's identity"),
        (["control-plane", "--days", "0"], "--days: 0 is not a number of days"),
    ],
)
def test_bad_input_is_one_clear_line(tmp_path: Path, args: list[str], message: str) -> None:
    """A bad SAN, name or validity gives one line naming it, exit 1, and writes nothing."""
    folder = tmp_path / "certs"
    certs("init", "--dir", str(folder))
    result = certs("issue", *args, "--dir", str(folder))
    assert result.exit_code == 1
    (line,) = result.output.strip().splitlines()
    assert line.startswith("error: ") and message in line
    assert sorted(p.name for p in folder.iterdir()) == ["ca.key", "ca.pem"]


def test_an_unreadable_or_missing_ca_is_one_clear_line(tmp_path: Path) -> None:
    """No CA, a CA key that is not a key, and a key of another CA each say which file."""
    folder = tmp_path / "certs"
    missing = certs("issue", "control-plane", "--dir", str(folder))
    assert missing.exit_code == 1
    assert missing.output.strip() == f"error: no CA in {folder}: run `nexflow certs init` first"
    certs("init", "--dir", str(folder))
    (folder / "ca.key").write_text("not a key\n")
    broken = certs("issue", "control-plane", "--dir", str(folder))
    assert broken.exit_code == 1
    (line,) = broken.output.strip().splitlines()
    assert line.startswith(f"error: cannot read the CA key {folder / 'ca.key'}: ")
    other = make(tmp_path / "other")
    (folder / "ca.key").write_bytes((other / "ca.key").read_bytes())
    mixed = certs("issue", "control-plane", "--dir", str(folder))
    assert mixed.exit_code == 1 and "does not belong to" in mixed.output
