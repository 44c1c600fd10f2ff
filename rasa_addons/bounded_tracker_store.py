"""A tracker store for Rasa that keeps only the recent past of each conversation.

Runs inside Rasa's own environment (Python 3.10, Rasa 3.6), so it imports nothing of ours.

Why: our database is the conversation's source of truth (docs/decisions.md, entry 1) and every
rule is one intent -> one action, so Rasa needs only the current turn. Rasa's in-memory store
keeps every event of every sender forever and serialises / parses the whole history on every
message: each turn cost more than the one before, and the process grew with every person who
ever wrote. This store keeps the last `max_events` events of a sender (cut where Rasa was
listening, so the history it sees starts cleanly) and the `max_senders` most recent senders; a
sender it has forgotten simply starts a new Rasa session, which costs one action_session_start.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from typing import Any

from rasa.core.brokers.broker import EventBroker
from rasa.core.tracker_store import InMemoryTrackerStore
from rasa.shared.core.conversation import Dialogue
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, Event
from rasa.shared.core.trackers import DialogueStateTracker

ACTION_LISTEN = "action_listen"


def recent_events(events: list[Event], max_events: int) -> list[Event]:
    """The last `max_events` events, starting at an action_listen (Rasa waiting for a message).

    If no action_listen falls in that window (one very long turn), the window is kept as is.
    """
    if len(events) <= max_events:
        return events
    window = events[len(events) - max_events :]
    for index, event in enumerate(window):
        if isinstance(event, ActionExecuted) and event.action_name == ACTION_LISTEN:
            return window[index:]
    return window


class BoundedTrackerStore(InMemoryTrackerStore):
    """In memory, like Rasa's default, but bounded per sender and in number of senders."""

    def __init__(
        self,
        domain: Domain,
        event_broker: EventBroker | None = None,
        *,
        max_events: int,
        max_senders: int,
        **kwargs: dict[str, Any],
    ) -> None:
        """Both sizes come from endpoints.yml (bot/rasa_runtime.py writes them)."""
        super().__init__(domain, event_broker, **kwargs)
        if int(max_events) < 4 or int(max_senders) < 1:
            raise ValueError("max_events must be at least 4 and max_senders at least 1")
        self.max_events = int(max_events)
        self.max_senders = int(max_senders)
        self.store: OrderedDict[str, str] = OrderedDict()

    async def save(self, tracker: DialogueStateTracker) -> None:
        await self.stream_events(tracker)
        events = recent_events(list(tracker.events), self.max_events)
        self.store[tracker.sender_id] = json.dumps(
            Dialogue(tracker.sender_id, events).as_dict()
        )
        self.store.move_to_end(tracker.sender_id)
        while len(self.store) > self.max_senders:
            self.store.popitem(last=False)
