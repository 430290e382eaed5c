"""A bucket's release log on JetStream, as the Rust host keeps it.

Every release marker this store writes is also published to the stream
`HOLDS_RELEASES_<bucket>` (subject `$HOLDS.releases.<bucket>`) with the key,
the marker's revision and the process that asked, so `holds log` can say who
released a hold. The stream is made by the first release that finds it
missing: opening a bucket to read changes nothing.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import socket
import sys
from typing import Any

import nats.js.errors as jserr
from nats.js import api

#: Releases the log keeps per bucket (the oldest go first).
RELEASE_LOG_LEN = 100_000


def this_process() -> str:
    """How this process appears in the log: its name, pid, user and host."""
    script = sys.argv[0] if sys.argv and sys.argv[0] else ""
    if os.path.basename(script) == "__main__.py":  # python -m PACKAGE
        script = os.path.dirname(script)
    name = f"python {os.path.basename(script)}" if script else "python"
    try:
        user = getpass.getuser()
    except Exception:
        user = f"uid {os.geteuid()}"
    return f"{name} (pid {os.getpid()}, user {user}, host {socket.gethostname()})"


async def record(js: Any, bucket: str, replicas: int, key: str, revision: int, note: bytes) -> None:
    subject = f"$HOLDS.releases.{bucket}"
    headers = {"Holds-Key": key, "Holds-Revision": str(revision), "Holds-Process": this_process()}
    try:
        await js.publish(subject, note, headers=headers)
        return
    except jserr.NoStreamResponseError:
        pass
    # Another process may make it first; publishing again works either way.
    with contextlib.suppress(jserr.BadRequestError):
        await js.add_stream(
            api.StreamConfig(
                name=f"HOLDS_RELEASES_{bucket}",
                subjects=[subject],
                max_msgs=RELEASE_LOG_LEN,
                discard=api.DiscardPolicy.OLD,
                storage=api.StorageType.FILE,
                num_replicas=replicas,
                description=f"holds: releases in bucket {bucket}",
            )
        )
    await js.publish(subject, note, headers=headers)
