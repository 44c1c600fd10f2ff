"""Talking to Rasa's REST channel, and the `/intent{...}` messages that skip NLU.

Rasa reads any message whose text, stripped of whitespace, starts with "/" as an intent with
entities and runs no NLU on it. We use that on purpose for numbers, STOP/START and media
(`shortcut_message`), and must stop a person from doing the same (`escape_user_text`).
"""

from __future__ import annotations

import json
from typing import Any

import httpx


def shortcut_message(intent: str, entities: dict[str, Any] | None = None) -> str:
    """`/choose{"number": 3}`: Rasa takes the intent as given, with confidence 1.0."""
    if not entities:
        return f"/{intent}"
    return f"/{intent}{json.dumps(entities, ensure_ascii=False)}"


def escape_user_text(text: str) -> str:
    """A person's own words, never read as an intent: "/stop", " / /affirm" lose their slashes.

    Only the leading slashes go (Rasa looks at nothing else); a message of slashes alone
    becomes "?" so that Rasa still gets a message and our action still runs for it.
    """
    escaped = text
    while escaped.strip().startswith("/"):
        escaped = escaped.strip().lstrip("/")
    if escaped is text:
        return text
    return escaped.strip() or "?"


async def send_to_rasa(
    client: httpx.AsyncClient,
    rasa_url: str,
    sender: str,
    message: str,
    metadata: dict[str, Any],
) -> list[dict[str, Any]]:
    """One message into Rasa's REST channel; returns Rasa's bot messages (ours are always [],
    since our actions store their replies themselves). Raises httpx.HTTPError on failure."""
    response = await client.post(
        f"{rasa_url.rstrip('/')}/webhooks/rest/webhook",
        json={"sender": sender, "message": message, "metadata": metadata},
    )
    response.raise_for_status()
    messages = response.json()
    if not isinstance(messages, list):
        raise httpx.DecodingError(f"Rasa answered {type(messages).__name__}, not a list")
    return messages
