"""`nexflow schedule add|list|rm|pause|resume`: scheduled calls over HTTP, as the token's user.

`add SKILL --cron "30 7 * * 1-5" --tz Europe/Berlin --input '{"k": "v"}'` or
`--at 2026-12-24T18:00` (read in --tz unless it carries an offset); `--to` names where
the result goes (`web`; `telegram:<chat>` and `discord:<channel>` are stored for the
gateway). Exit 2: bad arguments (checked here) or a 422; exit 1: another refusal.
"""

from __future__ import annotations

import json
from typing import Annotated, Any
from urllib.parse import quote

import typer

from ._client import DEFAULT_HOME, DEFAULT_URL, HomeOpt, TokenOpt, UrlOpt, call_api, fail

app = typer.Typer(
    help="Schedule skill calls (cron or one-shot, with a time zone).", no_args_is_help=True
)


def _line(s: dict[str, Any]) -> str:
    when = str(s["cron"] or s["at"])
    head = f"{s['id']:<20} {s['status']:<7} {s['skill']:<20} {when:<26}"
    return f"{head} {s['timezone']:<18} next {s['next_run']}"


@app.command("add")
def schedule_add(
    skill: str,
    cron: Annotated[str | None, typer.Option("--cron", help="Five-field cron expression")] = None,
    at: Annotated[str | None, typer.Option("--at", help="One-shot time, ISO 8601")] = None,
    tz: Annotated[str, typer.Option("--tz", help="IANA time zone, e.g. Europe/Berlin")] = "UTC",
    input_json: Annotated[str, typer.Option("--input", help="The call's input as JSON")] = "{}",
    to: Annotated[str, typer.Option("--to", help="Result destination")] = "web",
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
    home: HomeOpt = DEFAULT_HOME,
) -> None:
    """Schedule SKILL with --cron or --at."""
    if (cron is None) == (at is None):
        fail("give exactly one of --cron and --at", code=2)
    try:
        value = json.loads(input_json)
    except ValueError as exc:
        fail(f"--input is not JSON: {exc}", code=2)
    if not isinstance(value, dict):
        fail("--input must be a JSON object", code=2)
    body = {
        "skill": skill,
        "input": value,
        "cron": cron,
        "at": at,
        "timezone": tz,
        "destination": to,
    }
    made = call_api("POST", url, "/api/v1/schedules", token, home, json=body).json()
    typer.echo(f"scheduled {made['id']}: {made['skill']} next at {made['next_run']}")


@app.command("list")
def schedule_list(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
    home: HomeOpt = DEFAULT_HOME,
) -> None:
    """List your schedules (everyone's with an accounts:admin token)."""
    items = call_api("GET", url, "/api/v1/schedules", token, home).json()["schedules"]
    if as_json:
        typer.echo(json.dumps(items, indent=2, ensure_ascii=False))
        return
    for item in items:
        typer.echo(_line(item))


def _act(method: str, schedule_id: str, action: str, url: str, token: str | None, home: Any) -> Any:
    path = f"/api/v1/schedules/{quote(schedule_id, safe='')}" + (f"/{action}" if action else "")
    return call_api(method, url, path, token, home)


@app.command("rm")
def schedule_rm(
    schedule_id: str,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
    home: HomeOpt = DEFAULT_HOME,
) -> None:
    """Delete a schedule."""
    _act("DELETE", schedule_id, "", url, token, home)
    typer.echo(f"deleted {schedule_id}")


@app.command("pause")
def schedule_pause(
    schedule_id: str,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
    home: HomeOpt = DEFAULT_HOME,
) -> None:
    """Pause a schedule (nothing runs until it is resumed)."""
    typer.echo(_line(_act("POST", schedule_id, "pause", url, token, home).json()))


@app.command("resume")
def schedule_resume(
    schedule_id: str,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
    home: HomeOpt = DEFAULT_HOME,
) -> None:
    """Resume a paused schedule from now on (runs missed while paused are not made up)."""
    typer.echo(_line(_act("POST", schedule_id, "resume", url, token, home).json()))
