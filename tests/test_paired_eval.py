"""The paired evaluation: common random numbers across methods (issue 12, item 3).

Sample k of user prompt x must draw from the same random stream whatever the method, so
that a prompter that copies x gets NoFT's answer (exactly on the tiny float32 model here; on
SmolLM2 float rounding between batch shapes flips a token in 0.3-0.6% of copies) and
differences are paired.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from alignpro_lite.experiment import evaluate as EV
from alignpro_lite.learn import generative as G
from alignpro_lite.learn.policies import one_thread
from alignpro_lite.llm.frozen import PI_F_DECODING
from alignpro_lite.llm.lm import load_causal_lm, row_seed, sample_ids

XS = ["Tell me about cats.", "Why is the sky blue?", "How do I bake bread?"]
REPORT = Path(__file__).resolve().parent.parent / "runs" / "report" / "samples.csv"


@pytest.fixture(scope="module")
def tiny(tiny_path):
    with one_thread():
        yield load_causal_lm(str(tiny_path), device="cpu")


def test_streams_replace_the_text_seeds(tiny):
    model, tok = tiny
    kw = dict(max_new_tokens=6, progress=False, **{k: v for k, v in PI_F_DECODING.kwargs().items()
                                                   if k != "max_new_tokens"})  # fmt: skip
    streams = EV.answer_streams(XS, 3)
    assert streams[1][2] == row_seed(EV.EVAL_SEED, 2, XS[1])
    a = sample_ids(model, tok, XS, n=3, streams=streams, **kw)
    # the same rows one by one, as the Align-Pro path asks for them (n = 1 per rewrite) ...
    flat = [x for x in XS for _ in range(3)]
    b = sample_ids(model, tok, flat, n=1, streams=[[s] for row in streams for s in row], **kw)
    assert [row[0] for row in b] == [y for row in a for y in row]
    # ... and the streams are what decides: other streams, other tokens
    c = sample_ids(model, tok, XS, n=3, streams=EV.answer_streams(XS, 3, seed=1), **kw)
    assert c != a
    with pytest.raises(ValueError, match="streams"):
        sample_ids(model, tok, XS, n=3, streams=streams[:2], **kw)
    with pytest.raises(ValueError, match="2\\*\\*63"):
        sample_ids(model, tok, XS[:1], n=1, streams=[[-1]], **kw)


def test_every_method_shares_the_stream_of_x_and_k(tiny, monkeypatch):
    model, tok = tiny
    kw = dict(n_samples=2, prompts=XS, rewrite_tokens=4, answer_tokens=6)
    noft = EV.eval_samples("noft", "kindness", model, tok, **kw)
    # RLHF without an adapter is the frozen model at the same temperature: same answers
    rlhf = EV.eval_samples("rlhf", "kindness", model, tok, **kw)
    copies = iter([x for x in XS for _ in range(2)])
    monkeypatch.setattr(G, "clean_rewrite", lambda text: next(copies))  # a prompter that copies x
    ap = EV.eval_samples("align-pro", "kindness", model, tok, **kw)
    for df in (rlhf, ap):
        assert (df["stream"].to_numpy() == noft["stream"].to_numpy()).all()
        assert list(df["y"]) == list(noft["y"])  # same stream, same text -> same answer
    assert ap["copy"].all() and not noft.empty
    for col in ("reward", "gold", "refusal", "prompt_key"):
        assert col in noft


def _stream_violations(samples: pd.DataFrame) -> pd.DataFrame:
    """(task, prompt, sample) rows whose methods do not share one stream, or whose stream is
    not row_seed(EVAL_SEED, k, x)."""
    n = samples.groupby(["task", "prompt_id", "sample"])["stream"].nunique()
    bad = n[n != 1].reset_index()
    want = [row_seed(EV.EVAL_SEED, int(k), x) for k, x in zip(samples["sample"], samples["x"])]
    wrong = samples[samples["stream"].to_numpy() != np.array(want, dtype=np.int64)]
    return pd.concat([bad, wrong[["task", "prompt_id", "sample"]]])


def test_the_violation_check_can_fail():
    s = pd.DataFrame({"task": "t", "prompt_id": [0, 0], "sample": [0, 0], "x": ["a", "a"],
                      "method": ["NoFT", "RLHF"],
                      "stream": [row_seed(EV.EVAL_SEED, 0, "a"), 7]})  # fmt: skip
    assert len(_stream_violations(s)) == 2


@pytest.mark.skipif(not REPORT.is_file(), reason="no shipped report")
def test_shipped_report_is_paired():
    s = pd.read_csv(REPORT, keep_default_na=False)
    assert "stream" in s, "the shipped report predates the paired evaluation; rerun it"
    assert _stream_violations(s).empty
    s = s[~s["method"].str.startswith("Align-Pro λ=")]  # the λ grid: 4 answers per prompt
    per = s.groupby(["task", "method"])["prompt_id"].nunique()
    assert (per >= 60).all(), per[per < 60]
    k = s.groupby(["task", "method", "prompt_id"])["sample"].nunique()
    assert (k >= 8).all()
