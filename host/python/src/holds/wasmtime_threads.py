"""One scratch set per thread for wasmtime-py's value lowering.

wasmtime-py 50.0.1 lowers an untagged variant, option or result (the kv
imports' `result<T, kv-error>`, an export's `option<entry>`) through one
module-global set, `wasmtime.component._types.case_test_cache`, that it clears
and refills with the classes of each case it tries. The instance pool lowers on
several threads at once (each with its own Store, which wasmtime-py allows), so
one thread could test a value against another's classes and lower an ok list as
the error case: "TypeError: expected list value", a trap (1 in 20 runs of an
eight-agent claim race on the memory store). Upstream keeps thread safety to
the embedder (bytecodealliance/wasmtime-py#254). `install` gives each thread its
own set; the package pins wasmtime==50.0.1, so the attribute is there.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

from wasmtime.component import _types


class PerThreadSet:
    """The part of `set` wasmtime-py uses of its scratch set, one set per thread."""

    def __init__(self) -> None:
        self._local = threading.local()

    def _mine(self) -> set[type]:
        mine = getattr(self._local, "set", None)
        if mine is None:
            mine = self._local.set = set()
        return mine

    def add(self, item: type) -> None:
        self._mine().add(item)

    def clear(self) -> None:
        self._mine().clear()

    def __iter__(self) -> Iterator[type]:
        return iter(self._mine())


def install() -> None:
    """Replace the shared scratch set (idempotent); fails loudly if this
    wasmtime-py has none, since then this module no longer knows what it fixes."""
    current = getattr(_types, "case_test_cache", None)
    if isinstance(current, PerThreadSet):
        return
    if not isinstance(current, set):
        raise ImportError(
            "wasmtime.component._types.case_test_cache is not the set holds expects "
            f"(found {type(current).__name__}): this wasmtime-py is not the pinned 50.0.1"
        )
    _types.case_test_cache = PerThreadSet()  # type: ignore[assignment]
