"""End to end: the network skills through a real `nexflow up`, in the real sandbox, on
Docker and on nsjail, against real local servers: aiosmtpd (SMTP), Radicale (CalDAV),
dnsmasq (DNS over TCP), TLS servers with made certificates, and one HTTP server with
pages, feeds and faithful subsets of the Prometheus, Loki and Alertmanager APIs
(tests/skill_http_fakes.py). The stack and servers come from tests/e2e/conftest.py; the
stack allows `127.0.0.1:*`, and every connection leaves the sandbox through the
executor's egress proxy.
"""

from __future__ import annotations

import pytest

from tests.harness import free_port
from tests.skill_calls import approved, failed, ok
from tests.skill_world import World

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("skills-network-e2e")]


def test_http_health_judges_status_and_body(skill_world: World) -> None:
    """A 200 with the expected text is healthy; a 503 is unhealthy with the reason, not an error."""
    up = ok(
        skill_world.stack,
        "http-health",
        {"url": f"{skill_world.web.url}/health", "expect_text": "OK"},
    )
    assert up["healthy"] is True and up["status"] == 200 and up["latency_ms"] >= 0
    down = ok(skill_world.stack, "http-health", {"url": f"{skill_world.web.url}/down"})
    assert down["healthy"] is False and down["status"] == 503 and "503" in down["problem"]


def test_web_fetch_returns_readable_text_only(skill_world: World) -> None:
    """The page's text and title come back; script, style, noscript and template do not;
    links are absolute."""
    out = ok(skill_world.stack, "web-fetch", {"url": f"{skill_world.web.url}/page.html"})
    assert out["title"] == "Release notes"
    assert "Version 2.0" in out["text"] and "Faster & smaller." in out["text"]
    for hidden in ("tracking", "color: red", "enable js", "hidden"):
        assert hidden not in out["text"]
    assert {"href": f"{skill_world.web.url}/changes.html", "text": "full list"} in out["links"]


def test_web_fetch_redirect_off_the_grant_is_refused(skill_world: World) -> None:
    """A redirect to 127.0.0.2 (not granted) fails as egress_refused; nothing answers it."""
    url = (
        f"{skill_world.web.url}/redirect-away?to=http://127.0.0.2:{skill_world.web.port}/page.html"
    )
    assert failed(skill_world.stack, "web-fetch", {"url": url})["error"] == "egress_refused"


def test_host_not_allowed_is_denied_before_running(skill_world: World) -> None:
    """A URL on a host outside the allowlist is denied by policy (network_not_allowed)."""
    reply = skill_world.stack.call(
        "rss", {"url": f"http://127.0.0.2:{skill_world.web.port}/feed.rss"}
    )
    assert reply.status_code == 403, reply.text
    assert "network_not_allowed" in {r["code"] for r in reply.json()["reasons"]}


def test_rss_reads_rss_and_atom_and_refuses_entities(skill_world: World) -> None:
    """RSS 2.0 and Atom entries come back as plain text; a billion-laughs feed is refused."""
    rss = ok(skill_world.stack, "rss", {"url": f"{skill_world.web.url}/feed.rss", "max_items": 1})
    assert rss["format"] == "rss" and rss["title"] == "Example blog" and rss["truncated"]
    assert rss["items"] == [
        {
            "title": "Release 2.0",
            "link": "http://blog.test/2.0",
            "id": "r2",
            "published": "Mon, 07 Dec 2026 10:00:00 GMT",
            "summary": "Big news",
        }
    ]
    atom = ok(skill_world.stack, "rss", {"url": f"{skill_world.web.url}/feed.atom"})
    assert atom["format"] == "atom" and atom["items"][0]["link"] == "http://atom.test/hello"
    laughs = failed(skill_world.stack, "rss", {"url": f"{skill_world.web.url}/laughs.rss"})
    assert laughs["error"] == "not_a_feed"


def test_prometheus_query_instant_range_and_error(skill_world: World) -> None:
    """An instant selector, a range query (matrix with one point per step) and a bad query
    (Prometheus' bad_data error) through the real API paths."""
    inst = ok(
        skill_world.stack,
        "prometheus-query",
        {"url": skill_world.web.url, "query": 'up{job="node"}'},
    )
    assert inst["result_type"] == "vector" and inst["series"] == 2
    assert {r["metric"]["instance"] for r in inst["result"]} == {"a", "b"}
    rng = ok(
        skill_world.stack,
        "prometheus-query",
        {
            "url": skill_world.web.url,
            "query": 'up{job="db"}',
            "start": "1000",
            "end": "1060",
            "step": "30",
        },
    )
    assert rng["result_type"] == "matrix" and len(rng["result"][0]["values"]) == 3
    bad = failed(
        skill_world.stack, "prometheus-query", {"url": skill_world.web.url, "query": "up{{"}
    )
    assert bad["error"] == "query_failed" and "bad_data" in bad["message"]


def test_loki_query_filters_lines_newest_first(skill_world: World) -> None:
    """A stream selector with a |= filter returns only matching lines of that stream."""
    out = ok(
        skill_world.stack,
        "loki-query",
        {"url": skill_world.web.url, "query": '{app="api"} |= "error"'},
    )
    assert out["result_type"] == "streams" and out["lines"] == 2
    (stream,) = out["streams"]
    assert stream["labels"] == {"app": "api"}
    assert [e[1] for e in stream["entries"]] == ["error: db still down", "error: db down"]


def test_alert_silence_create_and_expire_after_approval(skill_world: World) -> None:
    """Creating and expiring a silence each wait for approval, then change Alertmanager."""
    value = {
        "url": skill_world.web.url,
        "action": "create",
        "duration_minutes": 30,
        "matchers": [{"name": "alertname", "value": "DiskFull"}],
        "comment": "disk swap",
        "created_by": "ann",
    }
    status, out = approved(skill_world.stack, skill_world.otto, "alert-silence", value)
    assert status == "succeeded", out
    silence = skill_world.web.fakes.silences[out["silence_id"]]
    assert silence["matchers"] == [
        {"name": "alertname", "value": "DiskFull", "isRegex": False, "isEqual": True}
    ]
    expire = {"url": skill_world.web.url, "action": "expire", "silence_id": out["silence_id"]}
    status, _ = approved(skill_world.stack, skill_world.otto, "alert-silence", expire)
    assert status == "succeeded" and silence["status"] == {"state": "expired"}


def test_alert_silence_refuses_a_catch_all(skill_world: World) -> None:
    """Only regex matchers (e.g. alertname=~".*") would silence everything: too_broad."""
    value = {
        "url": skill_world.web.url,
        "action": "create",
        "duration_minutes": 30,
        "matchers": [{"name": "alertname", "value": ".*", "is_regex": True}],
        "comment": "x",
        "created_by": "ann",
    }
    before = len(skill_world.web.fakes.silences)
    status, out = approved(skill_world.stack, skill_world.otto, "alert-silence", value)
    assert status == "failed" and out["error"] == "too_broad"
    assert len(skill_world.web.fakes.silences) == before


def test_caldav_create_then_list(skill_world: World) -> None:
    """caldav-create (approved) puts an event into Radicale; caldav-list finds it in range,
    its CRLF-laden summary kept as text (no injected component), and not out of range."""
    uid = f"e{free_port()}"
    value = {
        "url": skill_world.daemons.caldav_url,
        "uid": uid,
        "start": "2026-12-08T10:00:00+01:00",
        "end": "2026-12-08T11:00:00+01:00",
        "summary": "Plan\r\nEND:VEVENT\r\nBEGIN:VTODO",
    }
    status, out = approved(skill_world.stack, skill_world.otto, "caldav-create", value)
    assert status == "succeeded" and out["status"] == 201, out
    listed = ok(
        skill_world.stack,
        "caldav-list",
        {
            "url": skill_world.daemons.caldav_url,
            "start": "2026-12-08T00:00:00Z",
            "end": "2026-12-09T00:00:00Z",
        },
    )
    event = next(e for e in listed["events"] if e["uid"] == uid)
    assert (
        event["summary"] == "Plan\nEND:VEVENT\nBEGIN:VTODO" and event["start"] == "20261208T090000Z"
    )
    later = ok(
        skill_world.stack,
        "caldav-list",
        {
            "url": skill_world.daemons.caldav_url,
            "start": "2027-01-01T00:00:00Z",
            "end": "2027-01-02T00:00:00Z",
        },
    )
    assert uid not in [e["uid"] for e in later["events"]]
    status, again = approved(skill_world.stack, skill_world.otto, "caldav-create", value)
    assert status == "failed" and again["error"] == "already_exists"


def test_tls_expiry_verified_and_self_signed(skill_world: World) -> None:
    """A certificate from the sandbox's trusted CA verifies and expires in ~2 days; a
    self-signed one is still reported (~400 days) with verified false."""
    port = skill_world.daemons.tls_port
    good = ok(
        skill_world.stack, "tls-expiry", {"url": f"https://127.0.0.1:{port}/", "warn_days": 14}
    )
    assert good["verified"] is True and 1.9 < good["days_left"] < 2.1 and good["expiring_soon"]
    assert good["subject"] == "localhost" and good["issuer"] == "Nexflow test CA"
    port = skill_world.daemons.self_signed_port
    self_signed = ok(skill_world.stack, "tls-expiry", {"url": f"https://127.0.0.1:{port}/"})
    assert self_signed["verified"] is False and "self-signed" in self_signed["verify_error"]
    assert 399 < self_signed["days_left"] < 401 and self_signed["expiring_soon"] is False


def test_port_check_open_and_closed(skill_world: World) -> None:
    """The SMTP server's port is open; a port nobody listens on is closed, not an error."""
    opened = ok(
        skill_world.stack,
        "port-check",
        {"target": f"tcp://127.0.0.1:{skill_world.daemons.smtp_port}"},
    )
    assert opened["open"] is True
    closed = ok(skill_world.stack, "port-check", {"target": f"tcp://127.0.0.1:{free_port()}"})
    assert closed["open"] is False and "connect_failed" in closed["problem"]


def test_mail_send_delivers_after_approval(skill_world: World) -> None:
    """The message reaches aiosmtpd with its subject and body; a refused recipient is
    reported per address."""
    value = {
        "server": f"smtp://127.0.0.1:{skill_world.daemons.smtp_port}",
        "from": "bot@example.org",
        "to": ["ann@example.org", "nobody@refused.test"],
        "subject": "Build done",
        "body": "All green.\n.\nStill the body.",
    }
    status, out = approved(skill_world.stack, skill_world.otto, "mail-send", value)
    assert status == "succeeded", out
    assert out["accepted"] == ["ann@example.org"] and "nobody@refused.test" in out["refused"]
    sender, rcpts, content = skill_world.daemons.mailbox.messages[-1]
    assert (sender, rcpts) == ("bot@example.org", ["ann@example.org"])
    assert b"Subject: Build done" in content and b"Still the body." in content


def test_mail_send_refuses_header_injection(skill_world: World) -> None:
    """A subject carrying CRLF + Bcc is refused: no message is sent."""
    before = len(skill_world.daemons.mailbox.messages)
    value = {
        "server": f"smtp://127.0.0.1:{skill_world.daemons.smtp_port}",
        "from": "bot@example.org",
        "to": ["ann@example.org"],
        "subject": "Hi\r\nBcc: evil@example.org",
        "body": "x",
    }
    status, out = approved(skill_world.stack, skill_world.otto, "mail-send", value)
    assert status == "failed" and out["error"] == "bad_input"
    assert len(skill_world.daemons.mailbox.messages) == before


def test_dns_lookup_over_tcp(skill_world: World) -> None:
    """A, AAAA, TXT and MX records from dnsmasq over TCP; an unknown name is NXDOMAIN."""
    server = f"dns://127.0.0.1:{skill_world.daemons.dns_port}"
    answers = {
        kind: ok(skill_world.stack, "dns-lookup", {"server": server, "name": name, "type": kind})[
            "answers"
        ]
        for name, kind in [
            ("api.test", "A"),
            ("v6.test", "AAAA"),
            ("api.test", "TXT"),
            ("mail-domain.test", "MX"),
        ]
    }
    assert [a["data"] for a in answers["A"]] == ["11.22.33.10"]
    assert [a["data"] for a in answers["AAAA"]] == ["fd00::10"]
    assert [a["data"] for a in answers["TXT"]] == ["v=spf1 -all"]
    assert [a["data"] for a in answers["MX"]] == ["10 mx1.test"]
    missing = ok(skill_world.stack, "dns-lookup", {"server": server, "name": "nope.test"})
    assert missing["rcode"] == "NXDOMAIN" and missing["answers"] == []


def test_dns_lookup_survives_hostile_answers(skill_world: World) -> None:
    """A compression pointer to itself and a header promising answers that never come
    are bad_answer errors, not a hang or a crash."""
    server = f"dns://127.0.0.1:{skill_world.daemons.hostile_dns_port}"
    for name in ("loop.evil", "short.evil"):
        out = failed(skill_world.stack, "dns-lookup", {"server": server, "name": name})
        assert out["error"] == "bad_answer", out
