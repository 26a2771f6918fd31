"""Inputs that name a URL the call will fetch: `x-nexflow-network: url` and its resolution."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from nexflow_control.calls.inputs import HostAccess, resolve_hosts
from nexflow_control.errors import InvalidInput
from nexflow_control.skills import Code, load_skill

WriteSkill = Callable[..., Path]
BASE = "name: demo\ndescription: d\nlocation: ./run.py\nruntime: python\n"
RUN = {"run.py": "print('{}')\n"}


def _schema(mark: object, kind: str = "string") -> str:
    schema = {"type": "object", "properties": {"url": {"type": kind, "x-nexflow-network": mark}}}
    return f"input_schema: {json.dumps(schema)}\n"


def test_url_input_is_listed(write_skill: WriteSkill) -> None:
    """A string input marked x-nexflow-network: url is a network input."""
    folder = write_skill(BASE + "permissions: [network]\n" + _schema("url"), files=RUN)
    result = load_skill(folder)
    assert result.skill is not None and result.skill.network_inputs == ["url"]
    assert result.diagnostics == []


@pytest.mark.parametrize(("mark", "kind"), [("host", "string"), ("url", "integer")])
def test_bad_network_mark_is_an_invalid_schema(
    write_skill: WriteSkill, mark: str, kind: str
) -> None:
    """The mark's value must be 'url' and the property a string."""
    folder = write_skill(BASE + "permissions: [network]\n" + _schema(mark, kind), files=RUN)
    codes = [(d.field, d.code) for d in load_skill(folder).diagnostics if d.is_error]
    assert codes == [("input_schema.properties.url.x-nexflow-network", Code.INVALID_SCHEMA)]


def test_url_input_without_network_permission_warns(write_skill: WriteSkill) -> None:
    """Marking a URL input without declaring 'network' is a warning naming the mark."""
    folder = write_skill(BASE + _schema("url"), files=RUN)
    warnings = [(d.field, d.code) for d in load_skill(folder).diagnostics if not d.is_error]
    assert warnings == [
        ("input_schema.properties.url.x-nexflow-network", Code.PERMISSION_NOT_DECLARED)
    ]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://API.example.com/x", HostAccess("url", "api.example.com", 443)),
        ("http://api.example.com/x", HostAccess("url", "api.example.com", 80)),
        ("http://api.example.com:8080", HostAccess("url", "api.example.com", 8080)),
        ("https://bücher.example/", HostAccess("url", "xn--bcher-kva.example", 443)),
        ("http://[fd00::1]:81/", HostAccess("url", "fd00::1", 81)),
        ("http://example.com./", HostAccess("url", "example.com", 80)),
        ("tcp://db.example.com:5432", HostAccess("url", "db.example.com", 5432)),
        ("smtp://mail.example.com", HostAccess("url", "mail.example.com", 25)),
        ("smtp://mail.example.com:587", HostAccess("url", "mail.example.com", 587)),
        ("smtps://mail.example.com", HostAccess("url", "mail.example.com", 465)),
        ("imap://mail.example.com", HostAccess("url", "mail.example.com", 143)),
        ("imaps://mail.example.com", HostAccess("url", "mail.example.com", 993)),
        ("dns://9.9.9.9", HostAccess("url", "9.9.9.9", 53)),
    ],
)
def test_url_resolves_to_host_and_port(url: str, expected: HostAccess) -> None:
    """Scheme gives the default port (tcp:// has none); hosts are lower case and punycode."""
    assert resolve_hosts(["url"], {"url": url}) == [expected]


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/",
        "http:///nohost",
        "http://u:p@example.com/",
        "http://x:99999/",
        "file:///etc/passwd",
        "tcp://db.example.com",
        "smtp://u:p@mail.example.com",
    ],
)
def test_unusable_urls_are_invalid_input(url: str) -> None:
    """Other schemes, no host, credentials, bad ports and a tcp:// URL without a port are
    refused naming the field."""
    with pytest.raises(InvalidInput) as err:
        resolve_hosts(["url"], {"url": url})
    assert err.value.extra["field"] == "input.url"
