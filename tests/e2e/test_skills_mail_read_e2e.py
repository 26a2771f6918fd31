"""End to end: mail-read against a real Dovecot (dovecot-imapd, STARTTLS and IMAPS with the
test CA's certificate) through a real `nexflow up`, in the sandbox on Docker and on
nsjail, reaching the server through the egress proxy. Its login comes from the brokered
secrets imap_username/imap_password, granted to the admin role only: the admin's call
(approved, as every secrets call) reads; the operator's is denied before anything runs;
the password never leaks. Reading never marks a message seen.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.skill_calls import finished
from tests.skill_daemons import Daemons
from tests.skill_http_fakes import FakeServer
from tests.skill_imap_server import Dovecot
from tests.skill_secret_world import as_admin, never_leaked
from tests.skill_world import World

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("skills-network-e2e")]


@pytest.fixture(scope="module")
def dovecot(skill_servers: tuple[FakeServer, Daemons]) -> Iterator[Dovecot]:
    """Dovecot on loopback with the test CA's certificate (which the sandboxes trust)."""
    ca = skill_servers[1].ca
    assert ca is not None
    server = Dovecot(ca.cert, ca.key)
    yield server
    server.close()


def _mail(subject: str, body: str, sender: str = "Bob <bob@example.org>") -> bytes:
    return (
        f"From: {sender}\r\nTo: ann@example.org\r\nSubject: {subject}\r\n"
        f"Date: Mon, 07 Dec 2026 10:00:00 +0000\r\nMessage-ID: <{uuid.uuid4().hex}@example.org>\r\n"
        f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    ).encode()


def _read(w: World, dovecot: Dovecot, value: dict[str, Any], tls: bool = False) -> Any:
    server = f"imaps://127.0.0.1:{dovecot.tls_port}" if tls else f"imap://127.0.0.1:{dovecot.port}"
    return as_admin(w, "mail-read", {"server": server, **value})


def test_mail_read_lists_searches_and_reads_without_marking_seen(
    secret_world: tuple[World, httpx.Client], dovecot: Dovecot
) -> None:
    """Mailboxes are listed, a subject search finds the new message (newest first), its
    text is read over STARTTLS and IMAPS; Dovecot records no message as seen."""
    w, _ = secret_world
    tag = uuid.uuid4().hex[:8]
    dovecot.deliver(_mail(f"Build {tag} green", "All tests passed."))
    dovecot.deliver(_mail(f"Build {tag} red", "Two tests failed.\nSee the log."))
    dovecot.deliver(_mail(f"Old {tag}", "archived"), ".Archive")
    boxes = _read(w, dovecot, {"action": "mailboxes"})
    assert {b["name"] for b in boxes["mailboxes"]} == {"INBOX", "Archive"}
    found = _read(w, dovecot, {"action": "messages", "subject": f"Build {tag}"})
    assert found["matched"] == 2
    assert [m["subject"] for m in found["messages"]] == [f"Build {tag} red", f"Build {tag} green"]
    uid = found["messages"][0]["uid"]
    one = _read(w, dovecot, {"action": "message", "uid": uid}, tls=True)
    assert one["text"].strip() == "Two tests failed.\nSee the log."
    assert one["from"] == "Bob <bob@example.org>" and one["truncated"] is False
    archived = _read(w, dovecot, {"action": "messages", "mailbox": "Archive", "text": tag})
    assert [m["subject"] for m in archived["messages"]] == [f"Old {tag}"]
    assert dovecot.seen() == []
    never_leaked(w, "imap_password")


def test_mail_read_search_text_cannot_widen_the_search(
    secret_world: tuple[World, httpx.Client], dovecot: Dovecot
) -> None:
    """A search term with quotes is one quoted IMAP string (it matches nothing), not extra
    search keys; a mailbox name with a line break is refused before IMAP sees it."""
    w, _ = secret_world
    dovecot.deliver(_mail("Quarterly numbers", "Secret numbers."))
    widened = _read(w, dovecot, {"action": "messages", "subject": 'zzz" OR ALL ALL "'})
    assert widened["matched"] == 0, widened
    reply = w.stack.call(
        "mail-read",
        {
            "server": f"imap://127.0.0.1:{dovecot.port}",
            "action": "messages",
            "mailbox": "INBOX\r\nA1 DELETE INBOX",
        },
    )
    assert reply.status_code == 202  # a secrets call: approved below
    decided = w.otto.post(f"/api/v1/approvals/{reply.json()['approval_id']}/approve", json={})
    assert decided.status_code == 200
    story = finished(w.stack, reply.json()["call_id"])
    assert story["status"] == "failed" and story["result"]["output"]["error"] == "bad_input"


def test_mail_read_without_a_grant_is_denied(
    secret_world: tuple[World, httpx.Client], dovecot: Dovecot
) -> None:
    """The operator, granted no IMAP secret (nor the secrets permission), is refused
    secret_not_granted (403) and the server sees no login."""
    _, uma = secret_world
    before = (dovecot.root / "dovecot.log").read_text().count("Login:")
    reply = uma.post(
        "/api/v1/skills/mail-read",
        json={"input": {"server": f"imap://127.0.0.1:{dovecot.port}", "action": "mailboxes"}},
    )
    assert reply.status_code == 403, reply.text
    assert "secret_not_granted" in {r["code"] for r in reply.json()["reasons"]}
    assert (dovecot.root / "dovecot.log").read_text().count("Login:") == before


def test_mail_read_never_logs_in_without_tls(
    secret_world: tuple[World, httpx.Client], dovecot: Dovecot
) -> None:
    """starttls off on imap:// is refused before the login is sent."""
    w, _ = secret_world
    before = (dovecot.root / "dovecot.log").read_text().count("Login:")
    reply = w.stack.call(
        "mail-read",
        {"server": f"imap://127.0.0.1:{dovecot.port}", "action": "mailboxes", "starttls": "off"},
    )
    decided = w.otto.post(f"/api/v1/approvals/{reply.json()['approval_id']}/approve", json={})
    assert decided.status_code == 200
    story = finished(w.stack, reply.json()["call_id"])
    assert story["result"]["output"]["error"] == "tls_unavailable", story
    assert (dovecot.root / "dovecot.log").read_text().count("Login:") == before
