"""Nothing private in what callers or logs see, against a real `nexflow up`.

Hostile requests get answers that name what the caller gave, never the home, the
repository or a PID; tokens sent in headers, cookies and query strings (HTTP and
WebSocket) never reach the stack's output, plain or URL-encoded.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
import websockets

from tests.harness import REPO, Stack, start_stack

pytestmark = [pytest.mark.e2e, pytest.mark.nsjail]

SECRETS = {
    "query": "QrySecret+/=9f3a1c",
    "access": "AccessTok+/=77b2e",
    "cookie": "CookieSess+/=4e8d",
    "ws": "WsQuery+/=5c1f9",
    "nxf": "nxf_a1b2c3d4e5f60708_SeCrEtPaRtOfTheToken0123456789",
}


def _hostile(stack: Stack) -> list[httpx.Response]:
    """Requests a tester would send: paths outside the grant, a symlink out of the
    workspace, unknown ids, broken bodies, and the views that describe calls."""
    (stack.workspace / "link.txt").unlink(missing_ok=True)
    (stack.workspace / "link.txt").symlink_to("/etc/shadow")
    c = stack.client
    answers = [
        stack.call("file-read", {"path": path})
        for path in ("/etc/shadow", "../../etc/passwd", "link.txt", "/workspace/../../x", "a.txt")
    ]
    answers.append(stack.call("file-write", {"path": "../escape.txt", "content": "x"}))
    pending = stack.call("shell-run", {"command": "id"})
    answers.append(pending)
    answers += [
        c.get(f"/api/v1/calls/{a.json()['call_id']}") for a in answers if "call_id" in a.json()
    ]
    answers += [
        c.get("/api/v1/approvals"),
        c.get(f"/api/v1/approvals/{pending.json().get('approval_id', 'a_0')}"),
        c.get("/api/v1/audit/verify?fresh=true"),
        c.get("/api/v1/skills"),
        c.get("/api/v1/skills/file-read"),
        c.get("/api/v1/skills/..%2F..%2Fetc"),
        c.get("/api/v1/calls/c_nope"),
        c.get("/health"),
        c.get("/api/v1/me"),
        c.post("/api/v1/skills/echo", content=b"{not json"),
        c.post("/api/v1/skills/echo", json={"input": {"message": 1}}),
        c.get("/no/such/route"),
    ]
    return answers


def test_answers_to_hostile_requests_name_no_host_path_or_pid(tmp_path: Path) -> None:
    """No answer body or header holds the home, the workspace's real path, the repo or a PID."""
    stack = start_stack(tmp_path, "--sandbox", "nsjail")
    try:
        answers = _hostile(stack)
        refused = answers[0].json()
        assert refused["reasons"][0]["message"].startswith("input field path: /etc/shadow ")
        assert "link.txt" in answers[2].json()["reasons"][0]["message"]
        pids = {str(stack.proc.pid)}
        children = Path(f"/proc/{stack.proc.pid}/task/{stack.proc.pid}/children")
        pids |= set(children.read_text().split()) if children.exists() else set()
        needles = [re.escape(p) for p in (str(stack.home), str(stack.home.resolve()), str(REPO))]
        # A PID only as a whole number: not a piece of a hash, an id or a timestamp.
        needles += [rf"(?<![\w.:-]){pid}(?![\w.:-])" for pid in pids if len(pid) >= 4]
        for answer in answers:
            text = answer.text + "".join(f"{k}: {v}\n" for k, v in answer.headers.items())
            for needle in needles:
                assert not re.search(needle, text), (answer.request.url, needle, text[:2000])
    finally:
        stack.stop()


async def _websocket_with_tokens(stack: Stack) -> None:
    url = stack.url.replace("http", "ws", 1)
    query = f"token={quote(SECRETS['ws'], safe='')}&access_token={quote(SECRETS['nxf'])}"
    async with websockets.connect(
        f"{url}/ws/logs?{query}",
        additional_headers={"Authorization": f"Bearer {stack.token}"},
    ) as ws:
        await ws.send("{}")
    with pytest.raises(websockets.InvalidStatus):
        async with websockets.connect(f"{url}/ws/logs?token={quote(SECRETS['ws'], safe='')}"):
            pass


def test_tokens_in_headers_cookies_and_query_strings_never_reach_the_log(tmp_path: Path) -> None:
    """Every token value sent to the stack (plain or URL-encoded) is absent from its output."""
    stack = start_stack(tmp_path, "--sandbox", "nsjail")
    try:
        q = {"token": SECRETS["query"], "access_token": SECRETS["access"]}
        for path in ("/api/v1/skills", "/health", "/api/v1/nope", "/ws/logs"):
            stack.client.get(path, params=q)
            httpx.get(f"{stack.url}{path}", params=q, headers={"Authorization": SECRETS["nxf"]})
            httpx.get(
                f"{stack.url}{path}",
                headers={"Cookie": f"nexflow_session={quote(SECRETS['cookie'])}"},
            )
            httpx.get(f"{stack.url}{path}", headers={"Authorization": f"Bearer {SECRETS['nxf']}"})
        stack.call("echo", {"message": SECRETS["nxf"]})
        asyncio.run(_websocket_with_tokens(stack))
    finally:
        stack.stop()
    output = "".join(p.read_text(errors="replace") for p in tmp_path.glob("nexflow-up*.log"))
    assert '"WebSocket /ws/logs?' in output  # uvicorn did log the URL: redacted, not dropped
    values = [*SECRETS.values(), stack.token, SECRETS["nxf"].rsplit("_", 1)[1]]
    for value in values:
        for form in {value, quote(value, safe=""), quote(value)}:
            assert form not in output, (form, output[-3000:])


@pytest.mark.parametrize(
    "setup",
    [
        "import nexflow_control.app; from nexflow_common.logs import configure_logging; "
        "configure_logging(json=True)",
        "import nexflow_executor.main; from nexflow_common.logs import configure_logging; "
        "configure_logging()",
    ],
    ids=["control-plane", "executor"],
)
def test_each_service_redacts_library_lines_and_tracebacks(setup: str) -> None:
    """A real process of each service: stdlib and structlog lines, exceptions included,
    lose tokens, cookies and secret query values."""
    script = f"""
import logging, structlog
{setup}
logging.getLogger("uvicorn.error").info('%s - "WebSocket %s" [accepted]', "127.0.0.1:1",
    "/ws/logs?token={quote(SECRETS["ws"], safe="")}&after=3")
logging.getLogger("grpc").warning("Cookie: nexflow_session={SECRETS["cookie"]}")
log = structlog.get_logger("t")
log.info("call", authorization="Bearer {SECRETS["query"]}", headers={{"cookie": "x"}},
         url="https://h/?access_token={SECRETS["access"]}")
try:
    raise RuntimeError("bad token {SECRETS["nxf"]}")
except RuntimeError:
    log.exception("failed")
"""
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ},
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "WebSocket /ws/logs?token=[REDACTED]&after=3" in output
    assert "nxf_a1b2c3d4e5f60708_[REDACTED]" in output  # which token it was stays visible
    for value in SECRETS.values():
        for form in {value, quote(value, safe=""), quote(value)}:
            assert form not in output, (form, output)
