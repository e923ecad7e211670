"""Generation requests go through their set-up a limited number at a time, in arrival order.

Set-up (authentication, parsing, the alias, quota admission) costs a request a few tenths of a
millisecond of the event loop. When a burst arrives, asyncio takes every request one step further
in turn: all of them through set-up, then all of them to the quota store, then all of them to the
backend, so the first request of a burst of 1,000 gets its first token about as late as the last.
Through this gate at most `size` requests are in set-up at once and the others wait in arrival
order, so the first ones reach the backend while later ones still wait: with PostgreSQL + Redis the
burst's median time to first token fell by a quarter to a third, while its slowest requests may
start a little later, the first streams' tokens being relayed meanwhile (bench/README.md, tenth
pass). Below `size` concurrent set-ups nothing waits.

A request leaves the gate once admitted, or when it is answered or fails. Set-up may wait for the
database or the quota store; so that requests stuck there cannot hold back the others, the gate
lets everyone waiting in once no request has left it for `STALL_SECONDS` (longer than a cold table
refresh takes during a burst, ~0.1 s).
"""

import asyncio
import time
from collections import deque

from django.conf import settings

from ollamaweb.core.loops import for_this_loop

STALL_SECONDS = 0.25


class Ticket:
    """A request's place in the gate; `leave()` gives it up (once; later calls do nothing)."""

    __slots__ = ("_gate",)

    def __init__(self, gate: "SetupGate | None"):
        self._gate = gate

    def leave(self):
        gate, self._gate = self._gate, None
        if gate is not None:
            gate.left()


class SetupGate:
    """At most `size` requests inside at once; the others wait in order (one event loop's)."""

    def __init__(self, size: int):
        self.size = size
        self.inside = 0
        self._waiting: deque[asyncio.Future] = deque()
        self._last_left = time.monotonic()
        self._watch: asyncio.TimerHandle | None = None  # the stall check, while requests wait

    async def enter(self) -> Ticket:
        if self.inside < self.size and not self._waiting:
            self.inside += 1
            return Ticket(self)
        loop = asyncio.get_running_loop()
        place = loop.create_future()
        self._waiting.append(place)
        if self._watch is None:
            self._watch = loop.call_at(loop.time() + STALL_SECONDS, self._check_stall)
        try:
            await place
        except asyncio.CancelledError:
            if place.done() and not place.cancelled():  # let in, but its request is gone: pass the place on
                self.left()
            raise
        return Ticket(self)

    def left(self):
        self.inside -= 1
        self._last_left = time.monotonic()
        while self._waiting and self.inside < self.size:
            self._let_in(self._waiting.popleft())

    def _let_in(self, place: asyncio.Future):
        if not place.done():  # a cancelled request no longer waits
            self.inside += 1
            place.set_result(None)

    def _check_stall(self):
        self._watch = None
        if not self._waiting:
            return
        quiet = time.monotonic() - self._last_left
        if quiet >= STALL_SECONDS:  # those inside are stuck (a slow database or quota store): let everyone in
            while self._waiting:
                self._let_in(self._waiting.popleft())
            return
        loop = asyncio.get_running_loop()
        self._watch = loop.call_at(loop.time() + STALL_SECONDS - quiet, self._check_stall)


NO_TICKET = Ticket(None)  # holds no place: a view without the gate, or the gate turned off

_gates: dict[asyncio.AbstractEventLoop, SetupGate] = {}


async def enter() -> Ticket:
    """Wait for a place in the running loop's gate (at once when it has room); without a gate
    (OLLAMAWEB_SETUP_GATE_SIZE=0) a ticket that holds nothing."""
    size = settings.SETUP_GATE_SIZE
    if size <= 0:
        return NO_TICKET
    gate = for_this_loop(_gates, lambda gate: gate.size != size, lambda: SetupGate(size))
    return await gate.enter()
