"""Loading the component and running its instances.

One wasmtime Engine and one compiled Component per component file per process.
An `InstancePool` runs calls on its own threads; each thread owns one wasmtime
Store with one instance (a Store is not thread-safe, and one that trapped refuses
every later call). A call that traps or runs out of fuel discards its thread's
instance; the next call on that thread makes a fresh one. Each export call has a
deadline, its start plus the operation timeout: the guest's pauses before
sending a write again never pass it.
"""

from __future__ import annotations

import concurrent.futures as cf
import threading
import time
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any, Optional, TypeVar, Union

import wasmtime
from wasmtime.component import Component, Linker

from . import wasmtime_threads, wit
from .clock import SystemClock
from .errors import GuestError, HoldsError
from .types import Entry

# Before any instance lowers a value on a pool thread (see wasmtime_threads).
wasmtime_threads.install()

T = TypeVar("T")

#: Instructions one call may run (the Rust host's limit).
FUEL = 50_000_000
#: Linear memory one instance may grow to.
MEMORY_LIMIT = 64 << 20

_lock = threading.Lock()
_loaded: dict[str, Runtime] = {}
_markers_lock = threading.Lock()
_markers: Optional[tuple[wit.MarkerHeader, ...]] = None


def bundled_component() -> Path:
    """The component file shipped inside this package."""
    path = Path(str(resources.files("holds") / "holds.wasm"))
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: reinstall the package, or run scripts/set-component")
    return path


class Runtime:
    """An engine and a compiled component, shared by every manager running it."""

    def __init__(self, path: Path):
        config = wasmtime.Config()
        config.consume_fuel = True
        self.path = path
        self.engine = wasmtime.Engine(config)
        self.component = Component.from_file(self.engine, str(path))

    @classmethod
    def load(cls, path: Union[str, Path, None] = None) -> Runtime:
        """The runtime of `path` (default: the bundled component), compiled once."""
        resolved = Path(path).resolve() if path is not None else bundled_component()
        with _lock:
            runtime = _loaded.get(str(resolved))
            if runtime is None:
                runtime = _loaded[str(resolved)] = cls(resolved)
            return runtime


class _Instance:
    """One Store and one instance, with the imports bound to a Host."""

    def __init__(self, runtime: Runtime, host: _CallHost):
        self.store = wasmtime.Store(runtime.engine)
        self.store.set_limits(memory_size=MEMORY_LIMIT)
        self.store.set_fuel(FUEL)  # instantiation runs the component's start code
        linker = Linker(runtime.engine)
        wit.define_imports(linker, host)
        instance = linker.instantiate(self.store, runtime.component)
        self.exports = wit.Exports(instance, self.store, FUEL, host.begin)


#: A replica's answer to a scan: `view(prefix, through)` -> the keys' value
#: entries, or None when it has not seen every change up to `through`.
View = Callable[[str, int], Optional[list[tuple[str, Entry]]]]


class _CallHost:
    """The host one thread's instance calls; collects the entries a call saw."""

    def __init__(
        self,
        kv: wit.KvImports,
        clock: Any,
        op_timeout: float,
        observer: Optional[Callable[[str, int], None]],
        view: Optional[View] = None,
    ):
        self.kv = kv
        self._clock = clock
        self._op_timeout = op_timeout
        self._observer = observer
        self._view = view
        self.learnt: list[tuple[str, Entry]] = []
        self.deadline = float("-inf")  # no call yet: nothing to wait for

    def begin(self) -> None:
        """An export call starts: its deadline is the operation timeout from now."""
        self.deadline = time.monotonic() + self._op_timeout

    def now(self) -> int:
        return self._clock.now()

    def pause(self, after: int) -> bool:
        """Wait `after` ns (on the instance's own thread), unless the wait would
        end at or past the call's deadline: then False at once."""
        seconds = after / 1e9
        if time.monotonic() + seconds >= self.deadline:
            return False
        time.sleep(seconds)
        return True

    def cas_retry(self, key: str, attempt: int) -> None:
        if self._observer is not None:
            self._observer(key, attempt)

    def seen(self, key: str, entry: Entry) -> None:
        self.learnt.append((key, entry))

    def view(self, prefix: str, through: int) -> Optional[list[tuple[str, Entry]]]:
        return None if self._view is None else self._view(prefix, through)


class InstancePool:
    """`size` threads, each running calls on its own instance; an export call's
    writes may be sent again for `op_timeout` seconds. `view`, when set, is the
    replica every call's `scan` import asks before reading the store."""

    def __init__(
        self,
        runtime: Runtime,
        kv: wit.KvImports,
        clock: Any,
        op_timeout: float,
        size: int = 4,
        observer: Optional[Callable[[str, int], None]] = None,
    ):
        if size < 1:
            raise ValueError("an instance pool needs at least one thread")
        self._runtime = runtime
        self._kv = kv
        self._clock = clock
        self._op_timeout = op_timeout
        self.observer = observer
        self.view: Optional[View] = None
        self._local = threading.local()
        self._threads = cf.ThreadPoolExecutor(max_workers=size, thread_name_prefix="holds-wasm")
        self.discarded = 0

    def submit(self, call: Callable[[wit.Exports], T]) -> cf.Future[tuple[T, list[tuple[str, Entry]]]]:
        """Run `call(exports)` on a pool thread; the future's value is the result
        and the entries the call's imports learnt."""
        return self._threads.submit(self._run, call)

    def _run(self, call: Callable[[wit.Exports], T]) -> tuple[T, list[tuple[str, Entry]]]:
        local = self._local
        instance: Optional[_Instance] = getattr(local, "instance", None)
        if instance is None:
            local.host = _CallHost(self._kv, self._clock, self._op_timeout, self._observe, self._view)
            try:
                instance = local.instance = _Instance(self._runtime, local.host)
            except Exception as e:
                raise GuestError(f"instantiating the component failed: {e}") from e
        host: _CallHost = local.host
        host.learnt = []
        try:
            result = call(instance.exports)
        except HoldsError:
            # The export returned its error value: the instance is fine.
            raise
        except BaseException as e:
            # A trap (or an import that raised): the Store refuses every later
            # call, so this thread makes a fresh instance next time.
            local.instance = None
            self.discarded += 1
            raise GuestError(f"the component trapped: {type(e).__name__}: {e}") from e
        return result, host.learnt

    def _observe(self, key: str, attempt: int) -> None:
        if self.observer is not None:
            self.observer(key, attempt)

    def _view(self, prefix: str, through: int) -> Optional[list[tuple[str, Entry]]]:
        return None if self.view is None else self.view(prefix, through)

    def shutdown(self) -> None:
        self._threads.shutdown(wait=False, cancel_futures=True)


class _NoKv:
    """The kv import of an instance that is only asked for a table: it reaches no store."""

    def __getattr__(self, name: str) -> Callable[..., Any]:
        def unavailable(*_args: Any) -> Any:
            raise wit.Unavailable(f"kv.{name}: this instance has no store")

        return unavailable


def marker_headers() -> tuple[wit.MarkerHeader, ...]:
    """The bundled component's marker-header rules, asked once per process: a
    store reads its messages by them whether or not a manager runs it."""
    global _markers
    with _markers_lock:
        if _markers is None:
            host = _CallHost(_NoKv(), SystemClock(), 0.0, None)  # type: ignore[arg-type]
            try:
                _markers = tuple(_Instance(Runtime.load(), host).exports.marker_headers())
            except Exception as e:
                raise GuestError(f"asking the component for its marker headers failed: {e}") from e
        return _markers
