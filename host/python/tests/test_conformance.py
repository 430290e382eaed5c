"""Every case of tests/cases/cases.json, on the memory store and on a
real JetStream bucket (one per case, on the session's nats-server)."""

import asyncio

import pytest

from support.conformance import STORES, CaseRunner, applies, load_cases

DOC = load_cases()
CASES = DOC["cases"]


def _params():
    # A case that names its stores runs on those only (by its own declaration).
    for case in CASES:
        for store in STORES:
            if applies(case, store):
                yield pytest.param(case, store, id=f"{store}-{case['name']}")


def test_case_names_are_unique():
    names = [c["name"] for c in CASES]
    assert len(names) == len(set(names))


@pytest.mark.parametrize(("case", "store"), list(_params()))
def test_case(case, store, request):
    url = request.getfixturevalue("nats_url") if store == "jetstream" else None
    asyncio.run(CaseRunner(case, DOC["defaults"], store, url).run())
