"""The preregistration (runs/PREREGISTRATION.md) still describes the evaluation in force."""

from __future__ import annotations

from pathlib import Path

import pytest

from alignpro_lite.experiment import prereg

DOC = Path(__file__).resolve().parent.parent / "runs" / "PREREGISTRATION.md"


def test_fingerprint_unchanged():
    recorded = prereg.read_fingerprint(DOC)
    now = prereg.fingerprint()
    changed = {k: (recorded.get(k), v) for k, v in now.items() if recorded.get(k) != v}
    assert not changed, (
        "the evaluation differs from the preregistration; a deliberate change goes under "
        f"'Deviations' with a new fingerprint: {changed}"
    )
    assert set(recorded) == set(now)


def test_round2_fingerprint_unchanged():
    """Round 2's settings per seed, seeds, NoFT pool and comparisons are what was preregistered."""
    recorded = prereg.read_fingerprint(DOC, "fingerprint-round2")
    now = prereg.round2_fingerprint()
    assert recorded == now, "round 2 differs from its preregistration; record a deviation"


def test_fingerprint_reader_and_that_it_can_fail(tmp_path):
    doc = tmp_path / "p.md"
    doc.write_text("text\n```fingerprint\na: 1\nb: x: y\n```\nmore\n", encoding="utf-8")
    assert prereg.read_fingerprint(doc) == {"a": "1", "b": "x: y"}
    doc.write_text("no block", encoding="utf-8")
    with pytest.raises(ValueError, match="fingerprint"):
        prereg.read_fingerprint(doc)
