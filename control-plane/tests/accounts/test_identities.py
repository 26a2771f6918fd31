"""Identity links: (provider, subject) → one user, unique; lookup; unlink."""

from __future__ import annotations

from .conftest import Api


async def test_link_lookup_unlink(api: Api) -> None:
    """A linked identity finds its user; after unlinking it finds no one."""
    await api.user("alice", "user")
    accounts = api.services.accounts
    resp = await api.admin(
        "POST", "/api/v1/users/alice/identities", json={"provider": "telegram", "subject": "123"}
    )
    assert resp.status_code == 201, resp.text
    assert resp.json()["identity"] == "telegram:123" and resp.json()["user"] == "alice"
    await api.admin(
        "POST", "/api/v1/users/alice/identities", json={"provider": "discord", "subject": "456"}
    )

    found = await accounts.user_for_identity("telegram", "123")
    assert found is not None and found.name == "alice" and found.roles == ("user",)
    assert (await accounts.user_for_identity("discord", "456")) == found
    assert await accounts.user_for_identity("telegram", "456") is None
    shown = (await api.admin("GET", "/api/v1/users/alice")).json()
    assert [i["identity"] for i in shown["identities"]] == ["discord:456", "telegram:123"]

    resp = await api.admin("DELETE", "/api/v1/users/alice/identities/telegram/123")
    assert resp.status_code == 204, resp.text
    assert await accounts.user_for_identity("telegram", "123") is None
    assert (await accounts.user_for_identity("discord", "456")) is not None


async def test_identity_maps_to_one_user_only(api: Api) -> None:
    """Linking an identity that is linked already (to anyone) is 409 identity_already_linked."""
    await api.user("alice", "user")
    await api.user("mallory", "admin")
    body = {"provider": "telegram", "subject": "123"}
    assert (await api.admin("POST", "/api/v1/users/alice/identities", json=body)).status_code == 201
    before = len(api.events())
    for user in ("mallory", "alice"):
        resp = await api.admin("POST", f"/api/v1/users/{user}/identities", json=body)
        assert resp.status_code == 409, resp.text
        assert resp.json()["error"] == "identity_already_linked"
        assert resp.json()["user"] == "alice" and resp.json()["identity"] == "telegram:123"
    assert len(api.events()) == before
    (row,) = api.rows("SELECT user_id FROM identities")
    assert row["user_id"] == (await api.services.accounts.get_user("alice")).id
    # The same subject under another provider is another identity.
    other = {"provider": "discord", "subject": "123"}
    assert (await api.admin("POST", "/api/v1/users/mallory/identities", json=other)).is_success


async def test_unlink_only_what_is_linked_to_that_user(api: Api) -> None:
    """Unlinking someone else's (or an unknown) identity is 404 identity_not_found."""
    await api.user("alice", "user")
    await api.user("bob", "user")
    body = {"provider": "telegram", "subject": "123"}
    await api.admin("POST", "/api/v1/users/alice/identities", json=body)
    for path in (
        "/api/v1/users/bob/identities/telegram/123",
        "/api/v1/users/alice/identities/telegram/999",
    ):
        resp = await api.admin("DELETE", path)
        assert resp.status_code == 404 and resp.json()["error"] == "identity_not_found"
    assert await api.services.accounts.user_for_identity("telegram", "123") is not None


async def test_subjects_with_slashes_and_symbols_round_trip(api: Api) -> None:
    """Subjects are printable ASCII: slashes, pipes and @ survive link, lookup and unlink."""
    await api.user("carol", "user")
    subject = "auth0|abc/def@example.org?x=1#y"
    resp = await api.admin(
        "POST", "/api/v1/users/carol/identities", json={"provider": "oidc", "subject": subject}
    )
    assert resp.status_code == 201, resp.text
    found = await api.services.accounts.user_for_identity("oidc", subject)
    assert found is not None and found.name == "carol"
    quoted = "auth0%7Cabc%2Fdef%40example.org%3Fx%3D1%23y"
    resp = await api.admin("DELETE", f"/api/v1/users/carol/identities/oidc/{quoted}")
    assert resp.status_code == 204, resp.text
    assert await api.services.accounts.user_for_identity("oidc", subject) is None


async def test_disabled_user_is_not_found_by_identity(api: Api) -> None:
    """A disabled user's identities find no one unless the caller asks for disabled users."""
    await api.user("dan", "user")
    body = {"provider": "discord", "subject": "42"}
    await api.admin("POST", "/api/v1/users/dan/identities", json=body)
    await api.admin("PATCH", "/api/v1/users/dan", json={"disabled": True})
    accounts = api.services.accounts
    assert await accounts.user_for_identity("discord", "42") is None
    found = await accounts.user_for_identity("discord", "42", include_disabled=True)
    assert found is not None and found.disabled is True
