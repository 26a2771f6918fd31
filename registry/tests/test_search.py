"""The registry's search (name, text, exact tag, pages) and what a version asks for."""

from __future__ import annotations

from pathlib import Path

from registry.tests.server import Server, publish, skill_copy


def _publish(
    server: Server,
    publisher: tuple[str, Path],
    tmp: Path,
    name: str,
    front: str,
    env: str = "[]",
) -> None:
    folder = skill_copy(tmp, "1.0.0", name=name)
    md = folder / "SKILL.md"
    text = md.read_text().replace("tags: [debug, test]\n", "").replace("permissions: []\n", front)
    md.write_text(text.replace("  env: []\n", f"  env: {env}\n", 1))
    reply = publish(server, publisher[0], folder, publisher[1])
    assert reply.status_code == 201, reply.text


def test_search_by_exact_tag_and_in_bounded_pages(
    server: Server, publisher: tuple[str, Path], tmp_path: Path
) -> None:
    """`tag` matches a tag exactly (not a longer tag containing it); `limit` and `cursor`
    page through every hit once, ranked as without paging."""
    for i in range(5):
        _publish(server, publisher, tmp_path, f"pager-{i}", "tags: [pdf]\npermissions: []\n")
    _publish(server, publisher, tmp_path, "pdfish", "tags: [pdfx]\npermissions: []\n")
    tagged = server.client.get("/api/v1/packages", params={"tag": "pdf"}).json()
    assert [h["name"] for h in tagged["results"]] == [f"pager-{i}" for i in range(5)]
    assert tagged["next_cursor"] is None
    seen: list[str] = []
    cursor = None
    for _ in range(4):
        params = {"q": "p", "limit": 2, **({"cursor": cursor} if cursor else {})}
        page = server.client.get("/api/v1/packages", params=params).json()
        assert len(page["results"]) <= 2
        seen += [h["name"] for h in page["results"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    whole = server.client.get("/api/v1/packages", params={"q": "p", "limit": 100}).json()
    assert seen == [h["name"] for h in whole["results"]] and len(seen) == 6
    for bad in ({"limit": 0}, {"limit": 101}, {"cursor": "-1"}, {"cursor": "x"}):
        assert server.client.get("/api/v1/packages", params=bad).status_code == 422


def test_a_version_records_what_it_asks_for(
    server: Server, publisher: tuple[str, Path], tmp_path: Path
) -> None:
    """Hosts, paths, permission classes, secrets and runtime, read from SKILL.md at publish,
    are on the version's and the package's page."""
    front = (
        "tags: [net]\npermissions: [network, filesystem]\n"
        "sandbox:\n  network: [api.example.com]\n  filesystem:\n"
        "    - {path: /data, mode: ro}\n"
    )
    _publish(server, publisher, tmp_path, "asker", front, env="[ASKER_TOKEN]")
    version = server.client.get("/api/v1/packages/asker/1.0.0").json()
    asked = version["requests"]
    assert asked["hosts"] == ["api.example.com"]
    assert asked["permissions"] == ["filesystem", "network"]
    assert asked["paths"] == ["/data (ro)"] and asked["runtime"] == "python"
    assert asked["secrets"] == ["ASKER_TOKEN"]
    assert server.client.get("/api/v1/packages/asker").json()["requests"] == asked
