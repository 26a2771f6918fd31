"""The registry on a real socket: publish a real signed skill, prove it into the log, tamper."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

from nexflow_registry import signing
from nexflow_registry.transparency import leaf_hash, verify_consistency, verify_inclusion

from registry.tests.server import (
    Server,
    b64list,
    new_publisher,
    publish,
    skill_copy,
    start,
    tar_gz,
)


def _log_size(server: Server) -> int:
    return server.checkpoint().size


def test_publish_is_logged_and_proved_to_a_client(
    server: Server, publisher: tuple[str, Path], tmp_path: Path
) -> None:
    """A published version's log entry is proved into the signed checkpoint, and the next
    checkpoint is proved consistent with it, all checked client-side."""
    token, key = publisher
    folder = skill_copy(tmp_path, "1.0.0")
    reply = publish(server, token, folder, key)
    assert reply.status_code == 201, reply.text
    version = reply.json()
    assert version["name"] == "echo" and version["publisher"] == "acme"
    assert [m["path"] for m in version["manifest"]] == ["SKILL.md", "run.py"]
    first = server.checkpoint()
    entry = base64.b64decode(
        server.client.get(f"/api/v1/log/entries/{version['log_index']}").json()["data"]
    )
    event = json.loads(entry)
    assert (event["type"], event["package"], event["digest"]) == (
        "publish",
        "echo",
        version["digest"],
    )
    proof = server.client.get(
        "/api/v1/log/proof/inclusion",
        params={"leaf_index": version["log_index"], "tree_size": first.size},
    ).json()
    assert verify_inclusion(
        leaf_hash(entry), version["log_index"], first.size, b64list(proof["hashes"]), first.root
    )
    assert not verify_inclusion(
        leaf_hash(entry + b" "),
        version["log_index"],
        first.size,
        b64list(proof["hashes"]),
        first.root,
    )

    assert publish(server, token, skill_copy(tmp_path, "1.1.0"), key).status_code == 201
    second = server.checkpoint()
    assert second.size == first.size + 1
    path = server.client.get(
        "/api/v1/log/proof/consistency", params={"first": first.size, "second": second.size}
    ).json()
    assert verify_consistency(
        first.size, second.size, first.root, second.root, b64list(path["hashes"])
    )

    blob = server.client.get(f"/api/v1/blobs/{version['digest']}")
    assert blob.status_code == 200 and hashlib.sha256(blob.content).hexdigest() == version["digest"]
    assert server.client.get("/api/v1/packages/echo").json()["latest"] == "1.1.0"
    hits = server.client.get("/api/v1/packages", params={"q": "debug"}).json()["results"]
    assert [(h["name"], h["version"]) for h in hits] == [("echo", "1.1.0")]


def test_versions_are_immutable_and_semver(
    server: Server, publisher: tuple[str, Path], tmp_path: Path
) -> None:
    """Re-publishing a version is 409 even with other content; a non-semver version is 400."""
    token, key = publisher
    assert publish(server, token, skill_copy(tmp_path, "2.0.0"), key).status_code == 201
    again = publish(server, token, skill_copy(tmp_path, "2.0.0", extra="\nchanged\n"), key)
    assert again.status_code == 409 and again.json()["error"] == "version_exists"
    bad = publish(server, token, skill_copy(tmp_path, "two"), key)
    assert bad.status_code == 400 and bad.json()["error"] == "bad_version"


def test_a_bad_or_foreign_signature_stores_nothing(
    server: Server, publisher: tuple[str, Path], tmp_path: Path
) -> None:
    """A signature of other files, or by a key the publisher never registered, is refused and
    neither the log nor the package list changes."""
    token, key = publisher
    before = _log_size(server)
    folder = skill_copy(tmp_path, "1.0.0")
    signed_other = signing.sign(skill_copy(tmp_path, "9.9.9"), signing.load_private(key))
    swapped = server.client.post(
        "/api/v1/packages",
        content=tar_gz(folder),
        headers={**server.auth(token), "X-Nexflow-Signature": signed_other.model_dump_json()},
    )
    assert swapped.status_code == 400 and swapped.json()["error"] == "signature_invalid"
    signing.keygen(tmp_path / "stranger.key")
    foreign = publish(server, token, folder, tmp_path / "stranger.key")
    assert foreign.status_code == 400 and foreign.json()["error"] == "key_unknown"
    assert _log_size(server) == before
    assert server.client.get("/api/v1/packages/echo").json()["error"] == "not_found"
    assert list((server.home / "blobs").rglob("*")) == []


def test_a_flipped_blob_byte_is_a_clear_error(
    server: Server, publisher: tuple[str, Path], tmp_path: Path
) -> None:
    """A stored archive changed on disk is not served: `blob_corrupt`, no traceback."""
    token, key = publisher
    digest = publish(server, token, skill_copy(tmp_path, "1.0.0"), key).json()["digest"]
    blob = server.home / "blobs" / digest[:2] / digest
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0x01
    blob.write_bytes(bytes(data))
    for url in (f"/api/v1/blobs/{digest}", "/api/v1/packages/echo/1.0.0/archive"):
        reply = server.client.get(url)
        assert reply.status_code == 502
        assert reply.json()["error"] == "blob_corrupt" and "Traceback" not in reply.text


def test_yank_hides_from_resolution_but_not_from_exact_download(
    server: Server, publisher: tuple[str, Path], tmp_path: Path
) -> None:
    """A yanked version leaves search and `latest`, stays downloadable by version, and is logged."""
    token, key = publisher
    publish(server, token, skill_copy(tmp_path, "1.0.0"), key)
    publish(server, token, skill_copy(tmp_path, "1.1.0"), key)
    size = _log_size(server)
    reply = server.client.post(
        "/api/v1/packages/echo/1.1.0/yank",
        json={"reason": "leaks a token"},
        headers=server.auth(token),
    )
    assert reply.status_code == 204
    assert server.client.get("/api/v1/packages/echo").json()["latest"] == "1.0.0"
    hits = server.client.get("/api/v1/packages", params={"q": "echo"}).json()["results"]
    assert [h["version"] for h in hits] == ["1.0.0"]
    assert server.client.get("/api/v1/packages/echo/1.1.0/archive").status_code == 200
    detail = server.client.get("/api/v1/packages/echo/1.1.0").json()
    assert detail["yanked"] and detail["yank_reason"] == "leaks a token"
    assert _log_size(server) == size + 1
    event = json.loads(
        base64.b64decode(server.client.get(f"/api/v1/log/entries/{size}").json()["data"])
    )
    assert (event["type"], event["version"], event["reason"]) == ("yank", "1.1.0", "leaks a token")


def test_tokens_are_scoped(server: Server, publisher: tuple[str, Path], tmp_path: Path) -> None:
    """No token is 401; a publisher token cannot make publishers; a package-scoped token
    cannot publish another package; another publisher cannot take a name."""
    token, key = publisher
    none = server.client.post(
        "/api/v1/packages", content=b"x", headers={"X-Nexflow-Signature": "{}"}
    )
    assert none.status_code == 401 and none.json()["error"] == "unauthorized"
    made = server.client.post(
        "/api/v1/publishers",
        json={"name": "evil", "public_key": "AAAA"},
        headers=server.auth(token),
    )
    assert made.status_code == 403
    scoped = server.client.post(
        "/api/v1/publishers/acme/tokens",
        json={"package": "only-this"},
        headers=server.auth(server.admin),
    ).json()["token"]
    refused = publish(server, scoped, skill_copy(tmp_path, "1.0.0"), key)
    assert refused.status_code == 403 and refused.json()["error"] == "forbidden"
    assert (
        publish(server, scoped, skill_copy(tmp_path, "1.0.0", name="only-this"), key).status_code
        == 201
    )
    other = new_publisher(server, "other", tmp_path / "other.key")
    taken = publish(
        server, other, skill_copy(tmp_path, "5.0.0", name="only-this"), tmp_path / "other.key"
    )
    assert taken.status_code == 409 and taken.json()["error"] == "name_taken"


def test_a_hostile_upload_is_refused_by_entry(server: Server, publisher: tuple[str, Path]) -> None:
    """An archive with a '..' member gets `archive_path_traversal` naming it over HTTP."""
    import io
    import tarfile

    token, _ = publisher
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("../../escape.sh")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"hi"))
    reply = server.client.post(
        "/api/v1/packages",
        content=buf.getvalue(),
        headers={
            **server.auth(token),
            "X-Nexflow-Signature": json.dumps({"public_key": "AA==", "signature": "AA=="}),
        },
    )
    assert reply.status_code == 400
    assert (
        reply.json()["error"] == "archive_path_traversal"
        and "../../escape.sh" in reply.json()["message"]
    )


def test_a_rewound_or_forked_log_fails_the_clients_consistency_check(tmp_path: Path) -> None:
    """A client that saw checkpoint N refuses a registry restored from an older copy (rewound)
    or one that grew another history from it (forked), even signed with the same log key."""
    import shutil

    home = tmp_path / "home"
    first = start(home)
    token = new_publisher(first, "acme", tmp_path / "k.key")
    publish(first, token, skill_copy(tmp_path, "1.0.0"), tmp_path / "k.key")
    first.stop()
    shutil.copytree(home, tmp_path / "old-home")
    honest = start(home)
    publish(honest, token, skill_copy(tmp_path, "1.1.0"), tmp_path / "k.key")
    seen = honest.checkpoint()
    honest.stop()

    evil = start(tmp_path / "old-home")
    try:
        rewound = evil.checkpoint()
        assert rewound.size < seen.size
        assert not verify_consistency(seen.size, rewound.size, seen.root, rewound.root, [])
        publish(
            evil, token, skill_copy(tmp_path, "1.1.0", extra="\nbackdoor\n"), tmp_path / "k.key"
        )
        forked = evil.checkpoint()
        assert forked.size == seen.size and forked.root != seen.root
        proof = evil.client.get(
            "/api/v1/log/proof/consistency", params={"first": seen.size, "second": forked.size}
        ).json()
        assert not verify_consistency(
            seen.size, forked.size, seen.root, forked.root, b64list(proof["hashes"])
        )
    finally:
        evil.stop()


def test_a_second_key_is_logged_and_signs(
    server: Server, publisher: tuple[str, Path], tmp_path: Path
) -> None:
    """An added key is a log entry; a package signed with it publishes; only the admin adds keys."""
    token, _ = publisher
    size = _log_size(server)
    public = signing.keygen(tmp_path / "new.key")
    refused = server.client.post(
        "/api/v1/publishers/acme/keys", json={"public_key": public}, headers=server.auth(token)
    )
    assert refused.status_code == 403
    added = server.client.post(
        "/api/v1/publishers/acme/keys",
        json={"public_key": public},
        headers=server.auth(server.admin),
    )
    assert added.status_code == 201 and added.json()["log_index"] == size
    event = json.loads(
        base64.b64decode(server.client.get(f"/api/v1/log/entries/{size}").json()["data"])
    )
    assert (event["type"], event["publisher"], event["public_key"]) == ("key_added", "acme", public)
    assert (
        publish(server, token, skill_copy(tmp_path, "3.0.0"), tmp_path / "new.key").status_code
        == 201
    )


def test_bad_requests_get_a_stable_error_shape(server: Server) -> None:
    """Unknown routes, bad query values and proofs past the log's end are JSON errors."""
    cases = [
        ("/api/v1/nowhere", 404, "not_found"),
        ("/api/v1/log/proof/inclusion?leaf_index=-1&tree_size=1", 422, "invalid_request"),
        ("/api/v1/log/proof/inclusion?leaf_index=0&tree_size=999", 400, "bad_tree_size"),
        ("/api/v1/blobs/not-a-digest", 404, "blob_not_found"),
    ]
    for url, status, code in cases:
        reply = server.client.get(url)
        assert (reply.status_code, reply.json()["error"]) == (status, code), reply.text
        assert reply.json()["message"]
