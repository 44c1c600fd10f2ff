"""Rasa's custom actions, served by our app (the rasa-sdk action server protocol).

Rasa POSTs `{"next_action", "sender_id", "tracker", "domain", "version"}`; we answer
`{"events": [], "responses": []}` because the survey engine stores its replies itself (see
docs/decisions.md). Only Rasa, holding the shared token, may call this.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

router = APIRouter(tags=["rasa"])


@dataclass(frozen=True)
class ActionCall:
    action: str
    sender_id: str
    intent: str
    confidence: float
    text: str
    entities: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)


def parse_action_call(payload: dict[str, Any]) -> ActionCall:
    tracker = payload.get("tracker") or {}
    latest = tracker.get("latest_message") or {}
    intent = latest.get("intent") or {}
    entities: dict[str, Any] = {}
    for entity in latest.get("entities") or []:
        if isinstance(entity, dict) and "entity" in entity:
            entities[entity["entity"]] = entity.get("value")
    metadata: dict[str, Any] = {}
    for event in reversed(tracker.get("events") or []):
        if event.get("event") == "user":
            metadata = event.get("metadata") or {}
            break
    return ActionCall(
        action=str(payload.get("next_action", "")),
        sender_id=str(payload.get("sender_id") or tracker.get("sender_id") or ""),
        intent=str(intent.get("name") or "nlu_fallback"),
        confidence=float(intent.get("confidence") or 0.0),
        text=str(latest.get("text") or ""),
        entities=entities,
        metadata=metadata if isinstance(metadata, dict) else {},
    )


@router.post("/rasa/actions", include_in_schema=False)
async def run_action(request: Request) -> JSONResponse:
    expected = request.app.state.settings.effective_action_token
    given = request.query_params.get("token", "")
    if not hmac.compare_digest(given.encode(), expected.encode()):
        return JSONResponse({"error": "forbidden"}, status_code=403)
    call = parse_action_call(await request.json())
    await request.app.state.action_handler(call)
    return JSONResponse({"events": [], "responses": []})
