"""Plain values the API returns. Instants and durations are integer
nanoseconds, exactly as the component has them (WIT `timestamp` / `duration`)."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from typing import Literal, Optional

Operation = Literal["put", "delete", "purge", "expire"]
EventKind = Literal["announced", "released", "expired"]
#: How a hold shares what it covers: "exclusive" (nobody else may hold any of
#: it) or "shared" (other shared holds may cover the same paths).
Mode = Literal["exclusive", "shared"]
MODES: tuple[Mode, ...] = ("exclusive", "shared")
#: What a claim's or event's `file` names: "file" (one file), "directory" (a
#: pattern ending in `/`: every path beneath it) or "glob" (every path it
#: matches). Taken from the component: a file's own name may contain `*`.
Scope = Literal["file", "directory", "glob"]


def _utc(ns: int) -> _dt.datetime:
    return _dt.datetime.fromtimestamp(ns // 1_000_000_000, _dt.UTC) + _dt.timedelta(
        microseconds=(ns % 1_000_000_000) // 1000
    )


@dataclass(frozen=True)
class Hold:
    """The value stored at a file's key (the Go package's `Hold`), and its mode."""

    agent_id: str
    #: When the hold was most recently announced, ns since the Unix epoch.
    claimed_at: int
    #: Past this instant (strictly) the hold is vacant, ns since the Unix epoch.
    expires_at: int
    checkout_path: str
    #: The lease asked for, in ns.
    ttl: int
    #: "exclusive" (the Go package's only kind) or "shared".
    mode: Mode = "exclusive"

    @property
    def expires(self) -> _dt.datetime:
        """`expires_at` as an aware UTC datetime (microsecond precision)."""
        return _utc(self.expires_at)

    @property
    def claimed(self) -> _dt.datetime:
        return _utc(self.claimed_at)


@dataclass(frozen=True)
class Claim:
    """A hold and where it lives. `file` is a cleaned absolute path, or a
    pattern: a directory ending in `/` (every path beneath it) or a glob (`*`,
    `?`, `[...]`, `**`); `scope` says which ("file", "directory" or "glob").
    `revision` grows with every announce of the file, so it serves as a fencing
    token."""

    file: str
    hold: Hold
    revision: int
    #: What `file` names: "file", "directory" or "glob".
    scope: Scope = "file"


@dataclass(frozen=True)
class Claimed:
    """What a multi-file `claim` took: one claim per distinct file, sorted by
    file. `atomic`: one atomic write (False: the store could not, and the files
    were announced one by one, sorted, with revision-gated rollback)."""

    claims: list[Claim]
    atomic: bool


FileState = Literal["held", "token_moved", "held_by_another", "shared", "vacant"]


@dataclass(frozen=True)
class FileCheck:
    """One file of a `check`: `held` (the agent holds it live and exclusive,
    directly or through a directory or glob hold, at the token if one was
    given), `token_moved` (it holds it at another revision), `held_by_another`
    (another agent's hold of any mode covers it), `shared` (only shared holds
    cover it, the agent's among them: nobody may change it), or `vacant`.
    `claim` is the hold judged, if any."""

    file: str
    state: FileState
    claim: Optional[Claim] = None

    @property
    def is_held(self) -> bool:
        return self.state == "held"


@dataclass(frozen=True)
class Identity:
    """One file as holds names it (`Manager.identify`)."""

    #: The path holds keys: absolute, cleaned, symlinks resolved, mapped onto the
    #: workspace (a git repository's main worktree, or the declared workspace).
    file: str
    #: The checkout (worktree) it was named through; empty outside any.
    checkout: str


@dataclass(frozen=True)
class Release:
    """What `release` did: `released` with the marker's revision, or nothing
    (missing, expired or another agent's hold)."""

    released: bool
    revision: Optional[int] = None


@dataclass(frozen=True)
class Event:
    """A change subscribers see. `hold` is set for `announced`; `forced_by`
    for a `released` that was a force-release (who forced it). `scope` says
    what `file` names, as in `Claim`."""

    file: str
    revision: int
    kind: EventKind
    hold: Optional[Hold] = None
    forced_by: Optional[str] = None
    #: What `file` names: "file", "directory" or "glob".
    scope: Scope = "file"


@dataclass(frozen=True)
class Entry:
    """A key's latest entry in the store (WIT `kv.entry`), plus when the store
    wrote it (ns since the epoch; 0 when unknown). `found=False`: no entry."""

    found: bool
    value: bytes
    revision: int
    operation: Operation
    created: int = 0


MISSING = Entry(found=False, value=b"", revision=0, operation="put")
