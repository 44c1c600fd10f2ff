"""Talking to Rasa's REST channel, and the `/intent{...}` messages that skip NLU."""

from __future__ import annotations

import json
from typing import Any

import httpx


def shortcut_message(intent: str, entities: dict[str, Any]) -> str:
    """Rasa treats a message starting with '/' as an intent with entities, and runs no NLU."""
    return f"/{intent}{json.dumps(entities, ensure_ascii=False)}" if entities else f"/{intent}"


def escape_user_text(text: str) -> str:
    """A person typing "/stop" or "/affirm" must not inject an intent."""
    return text.lstrip().lstrip("/") if text.lstrip().startswith("/") else text


async def send_to_rasa(
    client: httpx.AsyncClient,
    rasa_url: str,
    sender: str,
    message: str,
    metadata: dict[str, Any],
) -> list[dict[str, Any]]:
    response = await client.post(
        f"{rasa_url}/webhooks/rest/webhook",
        json={"sender": sender, "message": message, "metadata": metadata},
    )
    response.raise_for_status()
    return response.json()
