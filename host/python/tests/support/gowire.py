"""The Go package's JSON for a hold, written here (not by the component) so a
test can stage exactly what a Go agent would store."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any


def rfc3339_nano(ns: int) -> str:
    """Go's time.RFC3339Nano in UTC: fractional seconds without trailing zeros."""
    seconds, frac = divmod(ns, 1_000_000_000)
    base = dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    tail = f".{frac:09d}".rstrip("0") if frac else ""
    return f"{base}{tail}Z"


def go_hold_json(
    agent_id: str, claimed_at: int, ttl: int, checkout_path: str, extra: dict[str, Any] | None = None
) -> bytes:
    """`{"agent_id":..,"claimed_at":..,"expires_at":..,"checkout_path":..,"ttl":..}` as
    encoding/json writes it, plus `extra` fields (a newer Go agent's)."""
    fields: list[tuple[str, Any]] = [
        ("agent_id", agent_id),
        ("claimed_at", rfc3339_nano(claimed_at)),
        ("expires_at", rfc3339_nano(claimed_at + ttl)),
        ("checkout_path", checkout_path),
        ("ttl", ttl),
    ]
    fields += list((extra or {}).items())
    body = ",".join(f"{json.dumps(k)}:{json.dumps(v, ensure_ascii=False, separators=(',', ':'))}" for k, v in fields)
    return ("{" + body + "}").encode()
