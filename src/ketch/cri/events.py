"""Container lifecycle events fanned out to every GetContainerEvents stream."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

__all__ = ["CREATED", "DELETED", "STARTED", "STOPPED", "Event", "EventBus"]

CREATED, STARTED, STOPPED, DELETED = 0, 1, 2, 3  # api.proto ContainerEventType


@dataclass(frozen=True)
class Event:
    container_id: str
    sandbox_id: str
    kind: int
    created_at: int


class EventBus:
    """Each subscriber gets its own bounded queue; a subscriber that falls behind loses its oldest events."""

    def __init__(self, depth: int = 1024) -> None:
        self.depth = depth
        self._subs: set[asyncio.Queue[Event]] = set()

    def subscribe(self) -> asyncio.Queue[Event]:
        q: asyncio.Queue[Event] = asyncio.Queue(self.depth)
        self._subs.add(q)
        return q

    def unsubscribe(self, q: asyncio.Queue[Event]) -> None:
        self._subs.discard(q)

    def publish(self, ev: Event) -> None:
        for q in self._subs:
            if q.full():
                q.get_nowait()
            q.put_nowait(ev)
