"""The Home Assistant REST API as far as the `home-assistant` skills use it: `GET
/api/states[/{entity_id}]` and `POST /api/services/{domain}/{service}` for a few
entities. Like the real one every request needs `Authorization: Bearer <token>` (401
otherwise); `light.turn_on/turn_off/toggle` change the light and answer the changed
states; an unknown entity or service is 404/400."""

from __future__ import annotations

import json
from typing import Any

HA_TOKEN = "eyJhbGciOiJIUzI1NiJ9Kq3wXn8LrT5vM2pZ"


def entities() -> dict[str, dict[str, Any]]:
    """The entities a fresh fake starts with."""
    return {
        "light.kitchen": {"state": "off", "attributes": {"friendly_name": "Kitchen"}},
        "light.hall": {"state": "on", "attributes": {"friendly_name": "Hall"}},
        "sensor.outside": {
            "state": "4.5",
            "attributes": {"friendly_name": "Outside", "unit_of_measurement": "°C"},
        },
    }


def _record(entity_id: str, value: dict[str, Any]) -> dict[str, Any]:
    return {"entity_id": entity_id, **value, "last_changed": "2026-12-07T10:00:00+00:00"}


def _service(
    state: dict[str, dict[str, Any]], domain: str, service: str, body: bytes
) -> tuple[int, Any]:
    try:
        data = json.loads(body or b"{}")
    except ValueError:
        return 400, {"message": "Data should be valid JSON."}
    target = data.get("entity_id") if isinstance(data, dict) else None
    if domain != "light" or service not in ("turn_on", "turn_off", "toggle"):
        return 400, {"message": f"Service {domain}.{service} not found."}
    if target not in state or not str(target).startswith("light."):
        return 200, []
    light = state[target]
    on = {"turn_on": True, "turn_off": False}.get(service, light["state"] == "off")
    light["state"] = "on" if on else "off"
    return 200, [_record(target, light)]


def answer(
    state: dict[str, dict[str, Any]], method: str, path: str, body: bytes, headers: dict[str, str]
) -> tuple[int, Any] | None:
    """The (status, JSON) answer, or None when `path` is no Home Assistant path."""
    if not path.startswith("/api/states") and not path.startswith("/api/services/"):
        return None
    if headers.get("authorization") != f"Bearer {HA_TOKEN}":
        return 401, {"message": "401: Unauthorized"}
    if method == "GET" and path == "/api/states":
        return 200, [_record(k, v) for k, v in state.items()]
    if method == "GET" and path.startswith("/api/states/"):
        entity = path.removeprefix("/api/states/")
        found = state.get(entity)
        return (200, _record(entity, found)) if found else (404, {"message": "Entity not found."})
    parts = path.removeprefix("/api/services/").split("/")
    if method == "POST" and len(parts) == 2:
        return _service(state, parts[0], parts[1], body)
    return 405, {"message": "Method not allowed"}
