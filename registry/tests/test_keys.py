"""Publishers' keys on the real server: rotation signed by the old key, revocation, both
in the log; a publish token acts only for its publisher; `whoami`."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from nexflow_registry import signing

from registry.tests.server import Server, new_publisher, publish, skill_copy


def _entry(server: Server, index: int) -> dict[str, object]:
    data = server.client.get(f"/api/v1/log/entries/{index}").json()["data"]
    event: dict[str, object] = json.loads(base64.b64decode(data))
    return event


def test_rotation_needs_the_old_keys_signature_and_revocation_stops_publishing(
    server: Server, publisher: tuple[str, Path], tmp_path: Path
) -> None:
    """A rotation signed by another key is refused; one signed by the old key is logged,
    the old key then signs no new version (but its versions stay), the new key does; a
    revoked key is refused with `key_revoked`, and the publisher page shows each status."""
    token, old = publisher
    assert publish(server, token, skill_copy(tmp_path, "1.0.0"), old).status_code == 201
    page = server.client.get("/api/v1/publishers/acme").json()
    [first] = page["keys"]
    new_public = signing.keygen(tmp_path / "new.key")
    stranger = signing.load_private(tmp_path / "new.key")
    forged = server.client.post(
        "/api/v1/publishers/acme/keys/rotate",
        json={
            "old_key_id": first["key_id"],
            "new_public_key": new_public,
            "signature": signing.sign_rotation(stranger, "acme", new_public),
        },
        headers=server.auth(token),
    )
    assert forged.status_code == 400 and forged.json()["error"] == "rotation_signature_invalid"
    rotated = server.client.post(
        "/api/v1/publishers/acme/keys/rotate",
        json={
            "old_key_id": first["key_id"],
            "new_public_key": new_public,
            "signature": signing.sign_rotation(signing.load_private(old), "acme", new_public),
        },
        headers=server.auth(token),
    )
    assert rotated.status_code == 201, rotated.text
    event = _entry(server, rotated.json()["log_index"])
    assert (event["type"], event["old_key_id"], event["key_id"]) == (
        "key_rotated",
        first["key_id"],
        rotated.json()["key_id"],
    )
    stale = publish(server, token, skill_copy(tmp_path, "1.1.0"), old)
    assert stale.status_code == 400 and stale.json()["error"] == "key_rotated"
    assert (
        publish(server, token, skill_copy(tmp_path, "1.1.0"), tmp_path / "new.key").status_code
        == 201
    )
    assert server.client.get("/api/v1/packages/echo/1.0.0").json()["key_id"] == first["key_id"]

    revoked = server.client.post(
        f"/api/v1/publishers/acme/keys/{rotated.json()['key_id']}/revoke",
        json={"reason": "laptop stolen"},
        headers=server.auth(token),
    )
    assert revoked.status_code == 200, revoked.text
    assert _entry(server, revoked.json()["log_index"])["reason"] == "laptop stolen"
    refused = publish(server, token, skill_copy(tmp_path, "1.2.0"), tmp_path / "new.key")
    assert refused.status_code == 400 and refused.json()["error"] == "key_revoked"
    statuses = [
        (k["status"], k["status_reason"])
        for k in server.client.get("/api/v1/publishers/acme").json()["keys"]
    ]
    assert statuses == [
        ("rotated", f"rotated to {rotated.json()['key_id']}"),
        ("revoked", "laptop stolen"),
    ]


def test_a_publish_token_acts_only_for_its_publisher(
    server: Server, publisher: tuple[str, Path], tmp_path: Path
) -> None:
    """acme's token cannot publish as, manage the keys of, or create tokens for another
    publisher, nor create publishers; `whoami` names each token's owner."""
    token, key = publisher
    other = new_publisher(server, "globex", tmp_path / "g.key")
    as_other = publish(server, token, skill_copy(tmp_path, "1.0.0"), key, publisher="globex")
    assert as_other.status_code == 403 and as_other.json()["error"] == "forbidden"
    with_their_key = publish(server, token, skill_copy(tmp_path, "1.0.0"), tmp_path / "g.key")
    assert with_their_key.json()["error"] == "key_unknown"
    for path, body in [
        ("/api/v1/publishers/globex/keys/x/revoke", {"reason": "r"}),
        ("/api/v1/publishers/globex/tokens", {}),
        ("/api/v1/publishers", {"name": "evil", "public_key": signing.keygen(tmp_path / "e.key")}),
    ]:
        reply = server.client.post(path, json=body, headers=server.auth(token))
        assert reply.status_code == 403, (path, reply.text)
    me = server.client.get("/api/v1/whoami", headers=server.auth(token)).json()
    assert (me["user"]["handle"], me["publisher"], me["admin"]) == ("acme", "acme", False)
    assert (
        server.client.get("/api/v1/whoami", headers=server.auth(other)).json()["publisher"]
        == "globex"
    )
    admin = server.client.get("/api/v1/whoami", headers=server.auth(server.admin)).json()
    assert (admin["admin"], admin["user"]["role"]) == (True, "admin")
    assert server.client.get("/api/v1/whoami").json()["error"] == "unauthorized"
