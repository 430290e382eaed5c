"""When a write the server stored nothing of is sent again: one policy for
single writes and atomic batches (as the Rust host's `kv/jetstream/resend.rs`)."""

from __future__ import annotations

import asyncio
import enum
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Optional, TypeVar, Union

from .base import Unavailable

#: Pause (s) before sending again a write no stream took.
NO_STREAM_BACKOFF = 0.1
#: First and longest pause (s) before a write the leader refused without
#: comparing (10164) is sent again: the write in flight commits within ms.
IN_FLIGHT_BACKOFF = (0.00025, 0.016)

T = TypeVar("T")


class Unsent(enum.Enum):
    """Why a write stored nothing, so that sending it again is safe."""

    #: No stream answered, or a new leader could not check the expected
    #: sequence yet (10163): for a moment after a replicated bucket is created,
    #: and while its stream elects a leader.
    NOT_TAKEN = "not taken"
    #: Refused without comparing while another write to the key is in flight
    #: (10164): not a lost race, so it is sent once that write is done.
    NOT_COMPARED = "not compared"


@dataclass(frozen=True)
class NotStored:
    """One send that stored nothing: why, and what the server said."""

    why: Unsent
    detail: str

    def gave_up(self, what: str, op_timeout: float) -> Unavailable:
        """The error once the operation's time is spent; `what` names the write."""
        if self.why is Unsent.NOT_TAKEN:
            return Unavailable(f"no stream took {what} within {op_timeout:g} s: {self.detail}; nothing was written")
        return Unavailable(
            f"another write to {what} stayed in flight for {op_timeout:g} s: {self.detail}; nothing was written"
        )


class Resend:
    """The sends of one write: within the operation's time, after a pause that
    depends on why the last send stored nothing."""

    def __init__(self, op_timeout: float, now: Optional[float] = None):
        self.give_up = (time.monotonic() if now is None else now) + op_timeout
        self.in_flight = IN_FLIGHT_BACKOFF[0]

    def left(self) -> float:
        """What is left of the operation's time (s), at least 50 ms for a send."""
        return max(0.05, self.give_up - time.monotonic())

    async def pause(self, why: Unsent) -> bool:
        """Sleeps before the next send; False (no sleep) when the pause would
        pass the operation's time."""
        pause = self.next(why, time.monotonic())
        if pause is None:
            return False
        await asyncio.sleep(pause)
        return True

    def next(self, why: Unsent, now: float) -> Optional[float]:
        """The pause before the send after one at `now`, if it ends in time."""
        pause = NO_STREAM_BACKOFF if why is Unsent.NOT_TAKEN else self.in_flight
        if now + pause >= self.give_up:
            return None
        if why is Unsent.NOT_COMPARED:
            self.in_flight = min(self.in_flight * 2, IN_FLIGHT_BACKOFF[1])
        return pause


async def until_stored(op_timeout: float, what: str, send: Callable[[float], Awaitable[Union[T, NotStored]]]) -> T:
    """Sends a write with `send(time_left)` until a send stores it, within
    `op_timeout` (the pauses are `Resend`'s); `what` names the write in the
    error. `send` is one send: its result, a `NotStored`, or an exception not to
    retry."""
    resend = Resend(op_timeout)
    while True:
        sent = await send(resend.left())
        if not isinstance(sent, NotStored):
            return sent
        if not await resend.pause(sent.why):
            raise sent.gave_up(what, op_timeout)
