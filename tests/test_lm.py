"""The frozen LLM: cache integrity (fast, on small fake folders), the exact nucleus sampler
(fast, on synthetic logits), and the embedded SmolLM2 itself (slow, loaded once)."""

from __future__ import annotations

import os
import threading
import time

import numpy as np
import pytest
import torch

from alignpro_lite.llm import lm

OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


# ----------------------------------------------------------------------------- cache integrity
def fake_build(folder, calls=None, delay=0.0):
    if calls is not None:
        calls.append(folder)
    time.sleep(delay)
    (folder / "model.safetensors").write_bytes(os.urandom(300_000))
    (folder / "config.json").write_text('{"a": 1}')
    return {"source": "fake"}


def test_manifest_detects_truncation_corruption_and_missing(tmp_path):
    d = tmp_path / "m"
    d.mkdir()
    fake_build(d)
    lm.write_manifest(d, source="fake")
    assert lm.cache_problem(d) is None
    weights = d / "model.safetensors"
    good = weights.read_bytes()

    weights.write_bytes(good[:-10])
    assert "truncated" in lm.cache_problem(d)

    flipped = bytearray(good)
    flipped[150_000] ^= 0xFF
    weights.write_bytes(bytes(flipped))
    assert "SHA-256" in lm.cache_problem(d)
    assert lm.cache_problem(d, full=False) is None  # sizes only: a bit flip needs the hash

    weights.write_bytes(good)
    assert lm.cache_problem(d) is None
    (d / "config.json").unlink()
    assert "config.json is missing" in lm.cache_problem(d)
    fake_build(d)
    lm.write_manifest(d)
    (d / lm.MANIFEST).write_text('{"format": 1, "files": {"model.safe')  # partial write
    assert "manifest" in lm.cache_problem(d)
    (d / lm.MANIFEST).unlink()
    assert "manifest" in lm.cache_problem(d)
    assert "does not exist" in lm.cache_problem(tmp_path / "nowhere")


def test_ensure_cached_builds_once_then_rebuilds_a_corrupt_copy(tmp_path):
    target, calls = tmp_path / "models" / "fake", []
    assert lm.ensure_cached(target, lambda d: fake_build(d, calls)) == target
    assert len(calls) == 1 and lm.read_manifest(target)["source"] == "fake"
    lm.ensure_cached(target, lambda d: fake_build(d, calls))
    assert len(calls) == 1, "an intact copy must be reused"

    with open(target / "model.safetensors", "r+b") as f:  # truncate a weight file
        f.truncate(1000)
    with pytest.warns(RuntimeWarning, match="rebuilding"):
        lm.ensure_cached(target, lambda d: fake_build(d, calls))
    assert len(calls) == 2 and lm.cache_problem(target) is None

    (target / lm.MANIFEST).unlink()  # e.g. a copy interrupted before its manifest
    with pytest.warns(RuntimeWarning, match="rebuilding"):
        lm.ensure_cached(target, lambda d: fake_build(d, calls))
    assert len(calls) == 3 and lm.cache_problem(target) is None
    assert sorted(p.name for p in target.parent.iterdir()) == [".fake.lock", "fake"]


def test_failed_build_leaves_nothing_behind(tmp_path):
    target = tmp_path / "models" / "fake"

    def broken(folder):
        (folder / "model.safetensors").write_bytes(b"half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        lm.ensure_cached(target, broken)
    assert not target.exists()
    assert [p.name for p in target.parent.iterdir()] == [".fake.lock"]


def test_concurrent_builders_build_once(tmp_path):
    target, calls, errors = tmp_path / "models" / "fake", [], []

    def worker():
        try:
            lm.ensure_cached(target, lambda d: fake_build(d, calls, delay=0.3))
        except Exception as err:  # pragma: no cover - reported below
            errors.append(err)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(calls) == 1
    assert lm.cache_problem(target) is None


# ----------------------------------------------------------------------------- exact sampler
def reference_choice(logits: np.ndarray, T: float, top_p: float, u: float) -> int:
    """Sort, keep the smallest top set with mass >= top_p, inverse CDF at ``u``."""
    p = np.exp((logits - logits.max()) / T)
    p /= p.sum()
    order = np.argsort(-p, kind="stable")
    ps = p[order]
    keep = (np.cumsum(ps) - ps) < top_p
    c = np.cumsum(ps * keep)
    return int(order[min(np.searchsorted(c, u * c[-1], side="right"), len(ps) - 1)])


def apply_sampler(logits: torch.Tensor, T: float, top_p: float, u: torch.Tensor) -> torch.Tensor:
    proc = lm._nucleus_sampler(T, top_p, u.unsqueeze(1), start=1)
    out = proc(torch.zeros(len(logits), 1, dtype=torch.long), logits.clone())
    assert ((out == 0).sum(-1) == 1).all() and torch.isinf(out).sum() == out.numel() - len(out)
    return out.argmax(-1)


@pytest.mark.parametrize("vocab", [50, 2000], ids=["topk-path", "mixed-paths"])
def test_nucleus_sampler_matches_reference(vocab):
    g = torch.Generator().manual_seed(0)
    # peaked rows (nucleus inside the top 256) and, for vocab 2000, flat rows (it is not)
    scale = torch.tensor([3.0, 0.05] * 32 if vocab > 256 else [3.0] * 64).unsqueeze(1)
    logits = torch.randn(64, vocab, generator=g) * scale
    u = torch.rand(64, generator=g)
    got = apply_sampler(logits, 0.7, 0.9, u)
    want = [reference_choice(logits[b].double().numpy(), 0.7, 0.9, float(u[b])) for b in range(64)]
    assert got.tolist() == want


@pytest.mark.parametrize("top_p", [0.9, 1.0])
def test_nucleus_sampler_frequencies_are_exact(top_p):
    """20 000 draws from a 6-token distribution match the top-p renormalised probabilities;
    a token masked to -inf (as min_new_tokens does to EOS) is never drawn."""
    logits = torch.tensor([2.0, 1.5, 1.0, 0.0, -1.0, float("-inf")])
    T, m = 0.8, 20_000
    p = torch.softmax(logits / T, -1).double().numpy()
    keep = ((np.cumsum(p) - p) < top_p) & (p > 0)
    target = p * keep / (p * keep).sum()
    u = torch.rand(m, generator=torch.Generator().manual_seed(1))
    draws = apply_sampler(logits.expand(m, -1), T, top_p, u).numpy()
    freq = np.bincount(draws, minlength=6) / m
    assert (freq[~keep] == 0).all() and freq[-1] == 0
    assert keep.sum() == (5 if top_p == 1 else 3)
    assert np.abs(freq - target).max() < 4 * np.sqrt(target * (1 - target) / m).max()


def test_row_seed_is_stable_and_distinct():
    assert lm.row_seed(0, 0, "a") == lm.row_seed(0, 0, "a")
    assert len({lm.row_seed(s, k, t) for s in (0, 1) for k in (0, 1) for t in ("a", "b")}) == 8


def test_bad_arguments_without_a_model():
    with pytest.raises(ValueError, match="name_or_path"):
        lm.load_causal_lm("")


# ----------------------------------------------------------------------------- the real model


PROMPTS = ["Say one kind word.", "Name a colour."]


@pytest.mark.slow
def test_embedded_model_loads_from_an_intact_cache(smol):
    model, tok = smol
    path = lm.embedded_cache_path()
    assert lm.cache_problem(path) is None
    assert not model.training and tok.padding_side == "left" and tok.pad_token is not None
    assert model.alignpro_fingerprint.startswith(lm.EMBEDDED)
    out = lm.generate(model, tok, PROMPTS, n=2, max_new_tokens=8, progress=False)
    assert len(out) == 2 and all(len(row) == 2 for row in out)
    assert all(isinstance(y, str) and y.strip() for row in out for y in row)


@pytest.mark.slow
def test_sampling_is_seeded_and_batch_independent(smol):
    model, tok = smol
    kw = {"n": 2, "max_new_tokens": 5, "progress": False}
    a = lm.generate(model, tok, PROMPTS, seed=3, **kw)
    b = lm.generate(model, tok, PROMPTS, seed=3, batch_size=3, **kw)
    c = lm.generate(model, tok, PROMPTS, seed=4, **kw)
    assert a == b, "same seed -> same texts, whatever the batching"
    assert a != c
    assert a[0][0] != a[0][1], "the n samples of one prompt are different draws"
    # a prompt's samples do not depend on the other prompts in the call
    assert lm.generate(model, tok, PROMPTS[1:], seed=3, **kw) == a[1:]


@pytest.mark.slow
@pytest.mark.parametrize(
    "kw",
    [
        {"temperature": 0.7, "top_p": 0.9, "n": 3, "max_new_tokens": 12, "batch_size": 4},
        {"temperature": 1.0, "top_p": 1.0, "n": 2, "max_new_tokens": 6, "min_new_tokens": 6},
        {"temperature": 0.0, "top_p": 1.0, "n": 1, "max_new_tokens": 8, "batch_size": 2},
        # long budget: most answers end with EOS early, so finished rows leave the batch
        {"temperature": 0.7, "top_p": 0.95, "n": 2, "max_new_tokens": 64, "batch_size": 16},
    ],
)
def test_cache_engine_matches_generate_token_for_token(smol, kw):
    """One prefill per prompt + a preallocated KV cache draws exactly what ``model.generate``
    with the same per-row streams draws: same tokens, same EOS handling, any batch size."""
    model, tok = smol
    prompts = [*PROMPTS, PROMPTS[0]]  # a repeated prompt: the same rows, drawn twice
    ref = lm.sample_ids(model, tok, prompts, seed=11, engine="generate", progress=False, **kw)
    new = lm.sample_ids(model, tok, prompts, seed=11, engine="cache", progress=False, **kw)
    assert new == ref
    assert new[0] == new[-1]
    T = kw["max_new_tokens"]
    if T == 64:  # the early-stop path was exercised: rows ended (with EOS) and left the batch
        ended = [y for row in new for y in row if len(y) < T]
        assert ended and all(y[-1] in lm._eos_ids(model, tok) for y in ended)
    if T <= 12:  # and the draws do not depend on the batch (one row per batch here)
        other = {**kw, "batch_size": 1}
        assert lm.sample_ids(model, tok, prompts, seed=11, progress=False, **other) == ref
    with pytest.raises(ValueError, match="engine"):
        lm.sample_ids(model, tok, prompts, engine="fast", progress=False)


def test_common_prefix_leaves_every_row_a_token_of_its_own():
    from alignpro_lite.llm.decoding import common_prefix

    assert common_prefix([[1, 2, 3, 4], [1, 2, 3, 5], [1, 2, 9]]) == 2
    assert common_prefix([[1, 2, 3], [1, 2, 3, 4]]) == 2  # a row equal to the prefix keeps one
    assert common_prefix([[7, 1], [8, 1]]) == 0
    assert common_prefix([[5, 5, 5]]) == 2


@pytest.mark.slow
@pytest.mark.parametrize(
    "system, n, batch", [(None, 1, 3), ("Answer in one short sentence, kindly.", 3, 4)]
)
def test_shared_prefix_prefill_draws_what_the_full_prefill_draws(smol, system, n, batch):
    """The system turn prefilled once per call (then padding in the MIDDLE of each row's cache,
    positions of the whole prompt) draws what every prompt prefilled in full draws, and what
    ``model.generate`` draws; prompts of very different lengths share a batch here. Greedy:
    token for token. Sampled: the same uniforms meet logits that differ by float rounding, so a
    draw may flip at a near-tie (measured: 1 sample in 36 over 24 tokens), never more than that."""
    model, tok = smol
    prompts = ["Hi.", "Tell me, in detail and with care, how a bicycle gear works.", "Why?",
               "Name a colour that goes well with green and explain your choice briefly."]  # fmt: skip
    ids = [
        tok(lm.chat_format(tok, x, system), add_special_tokens=False)["input_ids"] for x in prompts
    ]
    assert lm.common_prefix(ids) >= 10, "the chat template's system turn is shared"
    for temperature, top_p in ((0.0, 1.0), (0.7, 1.0) if n == 1 else (0.7, 0.9)):
        kw = dict(n=n, max_new_tokens=8, temperature=temperature, top_p=top_p, seed=4,
                  system=system, batch_size=batch, progress=False)  # fmt: skip
        shared = lm.sample_ids(model, tok, prompts, **kw)
        for other in (dict(share_prefix=False), dict(engine="generate")):
            ref = lm.sample_ids(model, tok, prompts, **other, **kw)
            pairs = [
                (a, b)
                for ra, rb in zip(shared, ref, strict=True)
                for a, b in zip(ra, rb, strict=True)
            ]
            if temperature == 0:
                assert shared == ref
            else:  # a flip changes the rest of that sample, not the others
                assert sum(a == b for a, b in pairs) >= len(pairs) - 1, (temperature, top_p, other)


@pytest.mark.slow
def test_min_new_tokens_fixes_the_length(smol):
    model, tok = smol
    ids = lm.sample_ids(
        model, tok, PROMPTS, max_new_tokens=5, min_new_tokens=5, temperature=1.0, progress=False
    )
    assert [len(y) for row in ids for y in row] == [5, 5]


@pytest.mark.slow
def test_token_logprobs_match_a_direct_forward_pass(smol):
    """Left padding (``pad_left``) and ``logits_to_keep`` change nothing: each row's summed
    log-prob equals an unpadded forward pass of that row alone."""
    model, tok = smol
    prompts = ["Name a colour.", "Say one kind word, please, right now."]
    conts = ["Blue, like the sky.", "Kind."]
    p_ids = [tok(lm.chat_format(tok, x), add_special_tokens=False)["input_ids"] for x in prompts]
    c_ids = [tok(y, add_special_tokens=False)["input_ids"] for y in conts]
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    batched = lm.token_logprobs(model, p_ids, c_ids, pad_id=pad)
    for b, (p, c) in enumerate(zip(p_ids, c_ids)):
        ids = torch.tensor([p + c])
        with torch.no_grad():
            logp = torch.log_softmax(model(input_ids=ids).logits[0].float(), -1)  # (T, V)
        direct = sum(float(logp[len(p) + t - 1, c[t]]) for t in range(len(c)))
        assert abs(batched[b].item() - direct) < 1e-3, (batched[b].item(), direct)
    assert (batched < 0).all() and batched.requires_grad
    with torch.no_grad():
        assert not lm.token_logprobs(model, p_ids[:1], c_ids[:1], pad_id=pad).requires_grad
    with pytest.raises(ValueError, match="continuations"):
        lm.token_logprobs(model, p_ids, c_ids[:1])


def test_pad_left_aligns_rows_on_the_right():
    ids, mask = lm.pad_left([[5, 6, 7], [8]], pad_id=0)
    assert ids.tolist() == [[5, 6, 7], [0, 0, 8]] and mask.tolist() == [[1, 1, 1], [0, 0, 1]]


@pytest.mark.slow
def test_local_folder_loads_like_a_hub_id(smol):
    """``from_pretrained(path)`` is the code path of any HF id: test it on the cache folder."""
    model, tok = smol
    other, other_tok = lm.load_causal_lm(str(lm.embedded_cache_path()), device="cpu")
    assert other_tok.padding_side == "left" and not other.training
    assert other.alignpro_fingerprint != model.alignpro_fingerprint  # named by its path
    ids = torch.tensor([tok("Hello there")["input_ids"]])
    with torch.no_grad():
        torch.testing.assert_close(other(input_ids=ids).logits, model(input_ids=ids).logits)


@pytest.mark.slow
def test_lm_sampler_feeds_the_estimator_and_caches(smol, tmp_path, monkeypatch):
    from alignpro_lite.llm.estimate import estimate_prompt_values, make_lm_sampler

    monkeypatch.setenv("ALIGNPRO_CACHE", str(tmp_path))
    model, tok = smol
    sampler = make_lm_sampler(model, tok, max_new_tokens=6, progress=False)
    assert model.alignpro_fingerprint in sampler.cache_id

    def reward(xs, ys):
        return np.array([float(len(y)) for y in ys])

    reward.cache_id = "length-v1"
    calls = []

    def counted(texts, n, seed):
        calls.append(texts)
        return sampler(texts, n, seed)

    counted.cache_id = sampler.cache_id
    est = estimate_prompt_values(
        ["Name a colour."], [["Name one colour, briefly."]], reward, counted, n=2
    )
    again = estimate_prompt_values(
        ["Name a colour."], [["Name one colour, briefly."]], reward, counted, n=2
    )
    assert len(calls) == 1 and len(calls[0]) == 2  # both candidates in one generate call
    assert est.responses == again.responses and est.rewards.shape == (1, 2, 2)
    with pytest.raises(ValueError, match="unknown generate arguments"):
        make_lm_sampler(model, tok, max_tokens=6)


def test_a_prompt_longer_than_the_context_is_refused_up_front(tiny_path):
    """A 100,000-character prompt ran 11 minutes at 8.3 GB before it was killed (issue 24)."""
    model, tok = lm.load_causal_lm(str(tiny_path), device="cpu")  # context 512 tokens
    t0 = time.perf_counter()
    with pytest.raises(ValueError, match="exceeds the model's context of 512 tokens"):
        lm.sample_ids(model, tok, ["word " * 5000], n=1, max_new_tokens=8, chat=False)
    assert time.perf_counter() - t0 < 5.0
