"""Rasa's custom actions, served by our app (the rasa-sdk action server protocol).

Rasa POSTs `{"next_action", "sender_id", "tracker", "domain", "version"}` to
`/rasa/actions?token=...` (its EndpointConfig sends the endpoint's `token` as that query
parameter). We hand the understood message to the app's `action_handler` and answer
`{"events": [], "responses": []}`: the survey engine stores its replies itself and our database,
not Rasa's slots, holds the conversation (docs/decisions.md). Only Rasa, holding the shared
token, may call this.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

router = APIRouter(tags=["rasa"])

# Rasa splits a list given in `/choose{"numbers": [1, 3]}` into one entity per item; these
# names are put back together as a list, even when only one item came.
LIST_ENTITIES = frozenset({"numbers"})


@dataclass(frozen=True)
class ActionCall:
    """One action Rasa asks us to run, with the message that led to it."""

    action: str
    sender_id: str
    intent: str
    confidence: float
    text: str
    entities: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)


def parse_action_call(payload: dict[str, Any]) -> ActionCall:
    """Intent, text, entities and metadata from `tracker.latest_message`.

    Rasa 3.6.21 (measured) puts the REST channel's metadata as sent in `latest_message.metadata`
    and, with its own `model_id` and `assistant_id` added, in the latest `user` event; the
    event is the fallback for trackers that lack the former.
    """
    tracker = payload.get("tracker") or {}
    latest = tracker.get("latest_message") or {}
    intent = latest.get("intent") or {}
    entities: dict[str, Any] = {}
    for entity in latest.get("entities") or []:
        if not (isinstance(entity, dict) and "entity" in entity):
            continue
        name, value = str(entity["entity"]), entity.get("value")
        if name in LIST_ENTITIES:
            entities.setdefault(name, []).extend(value if isinstance(value, list) else [value])
        else:
            entities[name] = value
    metadata = latest.get("metadata")
    if not metadata:
        for event in reversed(tracker.get("events") or []):
            if isinstance(event, dict) and event.get("event") == "user":
                metadata = event.get("metadata")
                break
    return ActionCall(
        action=str(payload.get("next_action") or ""),
        sender_id=str(payload.get("sender_id") or tracker.get("sender_id") or ""),
        intent=str(intent.get("name") or "nlu_fallback"),
        confidence=float(intent.get("confidence") or 0.0),
        text=str(latest.get("text") or ""),
        entities=entities,
        metadata=dict(metadata) if isinstance(metadata, dict) else {},
    )


@router.post("/rasa/actions", include_in_schema=False)
async def run_action(request: Request) -> JSONResponse:
    """Every action name, known or not, goes to the handler: it decides what to do."""
    expected = request.app.state.settings.effective_action_token
    given = request.query_params.get("token", "")
    if not hmac.compare_digest(given.encode(), expected.encode()):
        return JSONResponse({"error": "forbidden"}, status_code=403)
    try:
        payload = await request.json()
    except ValueError:
        return JSONResponse({"error": "not JSON"}, status_code=400)
    if not isinstance(payload, dict):
        return JSONResponse({"error": "not an action call"}, status_code=400)
    await request.app.state.action_handler(parse_action_call(payload))
    return JSONResponse({"events": [], "responses": []})
