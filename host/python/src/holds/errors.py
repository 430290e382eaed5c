"""The exceptions holds raises. Every one is a `HoldsError`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:
    from .types import Claim


class HoldsError(Exception):
    """Base class of every holds error."""


class HeldByAnother(HoldsError):
    """Another agent holds a live hold on the file; `claim` is the holder's."""

    def __init__(self, claim: Claim):
        super().__init__(f"{claim.file} is held by agent {claim.hold.agent_id!r} (revision {claim.revision})")
        self.claim = claim

    @property
    def holder(self) -> str:
        return self.claim.hold.agent_id


class HeldByOthers(HoldsError):
    """A multi-file claim, a pattern or a shared hold was refused: `claims` are
    every live hold of another agent that conflicts with it. Nothing stays
    written."""

    def __init__(self, claims: list[Claim]):
        named = ", ".join(f"{c.file} by {c.hold.agent_id!r}" for c in claims)
        super().__init__(f"{len(claims)} of the files are held: {named}")
        self.claims = claims

    @property
    def holders(self) -> list[str]:
        return [c.hold.agent_id for c in self.claims]


class Lost(HoldsError):
    """A renewal found the hold gone (released, force-released, expired or taken
    over since `revision`); `holder` is who holds the file now, if anyone.
    Nothing was written."""

    def __init__(self, file: str, revision: int, holder: Optional[Claim]):
        now = f"held by {holder.hold.agent_id!r}" if holder is not None else "vacant"
        super().__init__(f"the hold on {file} at revision {revision} is lost (now {now})")
        self.file = file
        self.revision = revision
        self.holder = holder


class InvalidInput(HoldsError):
    """A precondition the caller broke (`field` names it); nothing was written."""

    def __init__(self, field: str, reason: str):
        super().__init__(f"invalid {field}: {reason}")
        self.field = field
        self.reason = reason


class CasExhausted(HoldsError):
    """Every attempt lost the revision race."""

    def __init__(self, attempts: int):
        super().__init__(f"gave up after {attempts} attempts lost the revision race")
        self.attempts = attempts


class CorruptEntry(HoldsError):
    """A stored value that does not decode as a hold."""

    def __init__(self, key: str, revision: int, reason: str):
        super().__init__(f"corrupt entry {key} at revision {revision}: {reason}")
        self.key = key
        self.revision = revision
        self.reason = reason


class StoreError(HoldsError):
    """The store failed (unreachable, timed out, refused). A failed write may
    still land later, so announce or release again to settle it."""


class Closed(HoldsError):
    """The manager was closed."""

    def __init__(self, message: str = "the manager is closed"):
        super().__init__(message)


class ConfigError(HoldsError):
    """The manager cannot work on this bucket with this configuration."""


class GuestError(HoldsError):
    """The component trapped or ran out of fuel; its instance was discarded and
    the next call gets a fresh one."""


class Lagged(HoldsError):
    """A subscriber fell more than its buffer behind; its subscription ended."""

    def __init__(self, buffer: int):
        super().__init__(f"the subscriber fell more than {buffer} events behind")
        self.buffer = buffer
