"""The hub's replica: every key's latest entry as the watch delivered it, and the
entries this manager wrote or read that the watch has not delivered yet ("ahead":
they make hints and scans current at once, but are not events). Mirrors the Rust
host's `hub/replica.rs`.

The manager's loop writes it (the watch, its own calls' acks and reads, pruning);
pool threads read it while a guest call runs (hints, the `scan` import's view).
One lock keeps each read whole.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable
from typing import Optional

from .types import Entry


class Replica:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._watched: dict[str, Entry] = {}
        self._ahead: dict[str, Entry] = {}
        #: Every key of either map, sorted, for scans by prefix.
        self._keys: list[str] = []
        #: The newest revision the watch delivered: in revision order, so every
        #: change up to it is known once the watch has replayed the bucket.
        self._delivered = 0
        #: The watch has replayed the bucket since the last `clear`.
        self._ready = False

    def clear(self) -> None:
        """Forget everything (the watch is starting again, or stopped)."""
        with self._lock:
            self._watched.clear()
            self._ahead.clear()
            self._keys.clear()
            self._delivered = 0
            self._ready = False

    def set_ready(self) -> None:
        """The watch has replayed the bucket: every change up to `delivered` is known."""
        with self._lock:
            self._ready = True

    @property
    def delivered(self) -> int:
        """The newest revision the watch delivered."""
        return self._delivered

    def __len__(self) -> int:
        with self._lock:
            return len(self._keys)

    # -- writes (on the manager's loop) --------------------------------------------

    def apply(self, key: str, entry: Entry) -> None:
        """The watch delivered `entry`: it replaces an older one, and anything
        learnt ahead that it has caught up with is dropped."""
        with self._lock:
            self._delivered = max(self._delivered, entry.revision)
            self._index(key)
            own = self._ahead.get(key)
            if own is not None and own.revision <= entry.revision:
                del self._ahead[key]
            current = self._watched.get(key)
            if current is None or current.revision <= entry.revision:
                self._watched[key] = entry

    def learn(self, key: str, entry: Entry) -> None:
        """An entry this manager learnt ahead of the watch (its own ack, a fresh
        read): kept when newer than anything known. It does not move `delivered`."""
        with self._lock:
            known = [e.revision for e in (self._watched.get(key), self._ahead.get(key)) if e is not None]
            if not known or max(known) < entry.revision:
                self._index(key)
                self._ahead[key] = entry

    def prune(self, young: Callable[[Entry], bool]) -> None:
        """Keep only the entries `young` keeps: the replica never outgrows the bucket."""
        with self._lock:
            self._watched = {k: e for k, e in self._watched.items() if young(e)}
            self._ahead = {k: e for k, e in self._ahead.items() if young(e)}
            self._keys = [k for k in self._keys if k in self._watched or k in self._ahead]

    def _index(self, key: str) -> None:
        if key not in self._watched and key not in self._ahead:
            bisect.insort(self._keys, key)

    # -- reads (on any thread) -------------------------------------------------------

    def newest(self, key: str) -> Optional[Entry]:
        """The newest entry known for `key`, watched or ahead."""
        with self._lock:
            return self._newest(key)

    def _newest(self, key: str) -> Optional[Entry]:
        w, a = self._watched.get(key), self._ahead.get(key)
        if w is not None and a is not None:
            return a if a.revision > w.revision else w
        return w if w is not None else a

    def previous(self, key: str, revision: int) -> Optional[Entry]:
        """The key's watched entry before `revision`: what subscribers were told of."""
        with self._lock:
            e = self._watched.get(key)
            return e if e is not None and e.revision < revision else None

    def values(self) -> list[tuple[str, Entry]]:
        """Every watched entry that is a value (operation put), oldest revision first."""
        with self._lock:
            current = [(k, e) for k, e in self._watched.items() if e.operation == "put"]
        return sorted(current, key=lambda kv: kv[1].revision)

    def view(self, prefix: str, through: int) -> Optional[list[tuple[str, Entry]]]:
        """The newest value entry (operation put) of every key that starts with
        `prefix`, when the watch has replayed the bucket and delivered every
        change up to revision `through`; None otherwise (then read the store)."""
        with self._lock:
            if not self._ready or self._delivered < through:
                return None
            keys, found = self._keys, []
            i = bisect.bisect_left(keys, prefix)
            while i < len(keys) and keys[i].startswith(prefix):
                entry = self._newest(keys[i])
                if entry is not None and entry.operation == "put":
                    found.append((keys[i], entry))
                i += 1
            return found
