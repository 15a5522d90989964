"""Carrying events from the use cases to their listeners (``ports.EventSink``).

Listeners cannot undo or fail a use case: its effect has already happened
when the event is published. So the bus hands a listener's failure to
``on_error`` (the composition root logs it) and goes on with the next one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from taco_core.events import Event
from taco_core.ports import EventSink

__all__ = ["EventBus"]


class EventBus:
    """Delivers each event to every sink, in order, isolating their failures.

    ``on_error(sink, event, exc)`` receives what a sink raised; the event
    still reaches the other sinks, and the publisher never sees the error.
    """

    def __init__(
        self,
        sinks: Sequence[EventSink] = (),
        on_error: Callable[[EventSink, Event, Exception], None] | None = None,
    ) -> None:
        self._sinks: list[EventSink] = list(sinks)
        self._on_error = on_error

    def subscribe(self, sink: EventSink) -> None:
        """Add a sink (composition roots do this before serving)."""
        self._sinks.append(sink)

    async def publish(self, event: Event) -> None:
        for sink in self._sinks:
            try:
                await sink.publish(event)
            except Exception as exc:  # isolation boundary: see the class docstring
                if self._on_error is not None:
                    self._on_error(sink, event, exc)
