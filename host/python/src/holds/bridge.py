"""The sync/async bridge: a private asyncio loop on a background thread.

The component's imports are synchronous (wasmtime-py calls host functions
inline), nats-py is asyncio. Each manager owns a `LoopThread`: its NATS
connection, watcher and sweeps live on that loop only. A component call runs on
an instance-pool thread; when it needs the store, its import submits a coroutine
to the loop with `run_coroutine_threadsafe` and blocks on `.result(timeout)`.

Deadlock guards: `run` refuses to block on the loop's own thread (the loop would
wait for itself), every wait has a timeout, and the loop never calls the
component synchronously (it awaits pool futures), so it is always free to answer.
"""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import threading
from collections.abc import Coroutine
from typing import Any, Optional, TypeVar

T = TypeVar("T")


class BridgeError(RuntimeError):
    """A bridge call that could not be made (wrong thread, stopped loop)."""


class LoopThread:
    """An asyncio loop running forever on a daemon thread."""

    def __init__(self, name: str = "holds-loop"):
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._started = threading.Event()
        self._thread.start()
        self._started.wait()

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.call_soon(self._started.set)
        self.loop.run_forever()
        # Let cancelled tasks finish their cleanup, then close.
        pending = asyncio.all_tasks(self.loop)
        for task in pending:
            task.cancel()
        if pending:
            self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        self.loop.close()

    @property
    def on_loop(self) -> bool:
        return threading.current_thread() is self._thread

    def submit(self, coro: Coroutine[Any, Any, T]) -> cf.Future[T]:
        if self.loop.is_closed() or not self._thread.is_alive():
            coro.close()
            raise BridgeError("the holds loop has stopped")
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def run(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        """Run `coro` on the loop and wait for it, from any other thread.

        Raises TimeoutError (cancelling the coroutine) after `timeout` seconds."""
        if self.on_loop:
            coro.close()
            raise BridgeError("a blocking bridge call on the loop's own thread would deadlock")
        future = self.submit(coro)
        try:
            return future.result(timeout)
        except cf.TimeoutError:
            future.cancel()
            raise TimeoutError(f"no answer within {timeout:g} s") from None

    async def call(self, coro: Coroutine[Any, Any, T]) -> T:
        """Await `coro` on the loop from any event loop (or directly, on it)."""
        if self.on_loop:
            return await coro
        return await asyncio.wrap_future(self.submit(coro))

    def stop(self, timeout: Optional[float] = 5.0) -> None:
        if self._thread.is_alive() and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.loop.stop)
        if not self.on_loop:
            self._thread.join(timeout)
