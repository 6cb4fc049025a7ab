"""LoRA prompter / responder policies on a shared causal LM (generative.py).

Loop mechanics run on a tiny randomly initialised Llama with a word-level tokenizer
(``tests/tiny_model.py``, ~0.1 s per step); one slow smoke test runs
the real embedded SmolLM2 through the whole Align-Pro environment.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from alignpro_lite.learn import generative as G
from alignpro_lite.learn.policies import one_thread
from alignpro_lite.learn.train import train
from alignpro_lite.llm import lm, lora
from alignpro_lite.llm.lm import load_causal_lm

XS = ["hello kind cat", "why is the sky blue", "tell my sister", "how do i help"]
TARGET = {"kind", "nice", "good", "thanks", "please"}


def toy_reward(xs, ys) -> np.ndarray:
    """Fraction of the words of ``y`` in TARGET: trivially learnable (~16% at the start)."""
    return np.array([np.mean([w in TARGET for w in y.split()]) if y.split() else 0.0 for y in ys])


def toy_reward_fn(batch, actions, rng):  # noqa: ARG001 - reward_fn signature
    k = len(actions) // len(batch)
    return toy_reward([x for x in batch for _ in range(k)], actions.texts)


@pytest.fixture(autouse=True)
def _one_thread():
    with one_thread():
        yield


@pytest.fixture
def tiny(tiny_path):
    """A fresh (model, tok) per test: adapters never leak between tests."""
    return load_causal_lm(tiny_path, device="cpu")


def _mean_toy(policy, n=32, seed=5) -> float:
    with torch.no_grad():
        a = policy.sample(XS, n, torch.Generator().manual_seed(seed))
    return float(toy_reward([x for x in XS for _ in range(n)], a.texts).mean())


# --------------------------------------------------------------------------- the policies
@pytest.mark.parametrize("kind", ["prompter", "responder"])
def test_policy_learns_toy_reward(tiny, kind):
    model, tok = tiny
    model = lora.add_lora(model, kind, lora.LoRASpec(r=4, alpha=8))
    cls = G.PrompterPolicy if kind == "prompter" else G.ResponderPolicy
    policy = cls(model, tok, adapter=kind, max_new_tokens=6, temperature=1.0)
    before = _mean_toy(policy)
    res = train(
        policy, toy_reward_fn, XS, lam=0.01, steps=30, lr=0.05, k=4, batch_size=4, progress=False
    )
    after = _mean_toy(policy)
    assert after > before + 0.15, (before, after)
    m = res.metrics
    assert m["reward_mean"].tail(5).mean() > m["reward_mean"].head(5).mean()
    assert m["kl"].iloc[-1] > 0  # moved away from the reference


def test_policy_parameters_are_its_lora_only(tiny):
    model, tok = tiny
    model = lora.add_lora(model, "first")
    model = lora.add_lora(model, "second")
    pa = G.ResponderPolicy(model, tok, adapter="first")
    names = list(pa.state_dict())
    assert names and all("lora_" in n and ".first." in n for n in names)
    assert {n for n, _ in pa.named_parameters()} == set(names)
    assert all(p.requires_grad for p in pa.parameters())
    base = sum(p.numel() for n, p in model.named_parameters() if "lora_" not in n)
    assert sum(p.numel() for p in pa.parameters()) < base / 10


def test_logprob_is_the_sampling_distribution(tiny):
    """token_logprobs at T equals the sum of log softmax(logits/T) from a plain forward pass,
    and does not depend on left padding or batch composition."""
    model, tok = tiny
    model = lora.add_lora(model, "p")
    policy = G.ResponderPolicy(model, tok, adapter="p", max_new_tokens=5, temperature=0.7)
    with torch.no_grad():
        a = policy.sample(XS[:2], 2, torch.Generator().manual_seed(0))
        batched = policy.logprob(XS[:2], a)
        prompts = [p for p in policy.prompt_ids(XS[:2]) for _ in range(2)]
        for i, (p, c) in enumerate(zip(prompts, a.ids, strict=True)):
            ids = torch.tensor([p + c])
            logits = model(input_ids=ids).logits[0, len(p) - 1 : -1] / 0.7
            manual = torch.log_softmax(logits, -1).gather(-1, torch.tensor(c)[:, None]).sum()
            assert torch.allclose(batched[i], manual, atol=1e-4)
    # the reference (adapters disabled) equals the policy while B = 0
    assert torch.allclose(policy.ref_logprob(XS[:2], a), batched, atol=1e-5)


def test_repeated_prompts_get_independent_samples(tiny):
    """Two identical rewrites must not get the same answer (the RLOO baseline needs variation);
    the first copy is exactly what sample_ids draws for that text."""
    from alignpro_lite.llm.lm import sample_ids

    model, tok = tiny
    kw = dict(max_new_tokens=6, temperature=1.0, top_p=1.0, progress=False)
    out = G.sample_distinct(
        model, tok, ["hello kind cat"] * 3 + ["tell my sister"], n=1, seed=3, **kw
    )
    assert len({tuple(r[0]) for r in out[:3]}) == 3
    plain = sample_ids(model, tok, ["hello kind cat", "tell my sister"], n=1, seed=3, **kw)
    assert out[0] == plain[0] and out[3] == plain[1]


def test_shared_prefix_logprobs_and_gradients_equal_the_full_forward(tiny):
    """Each prompt once + its k continuations on the KV cache gives today's log-probs and
    LoRA gradients (through the prompt's cache too), to float tolerance."""
    model, tok = tiny
    model = lora.add_lora(model, "p", lora.LoRASpec(r=4))
    with torch.no_grad():  # a non-trivial adapter, so its gradients are not all zero
        for p in lora.lora_params(model, "p").values():
            p.add_(0.05 * torch.randn(p.shape, generator=torch.Generator().manual_seed(1)))
    prompts = [tok(lm.chat_format(tok, x), add_special_tokens=False)["input_ids"] for x in XS[:2]]
    rows = [prompts[0]] * 3 + [prompts[1]] * 2 + [prompts[0]]  # shared prefixes, any order
    conts = [[5, 6, 7], [8], [9, 10, 11, 12, 13], [5], [6, 7], []]
    weights = torch.arange(1.0, 7.0)
    got = {}
    for share in (False, True):
        model.zero_grad()
        lp = lm.token_logprobs(model, rows, conts, temperature=0.7, share_prefix=share)
        (lp * weights).sum().backward()
        grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
        got[share] = (lp.detach(), grads)
    (lp_full, g_full), (lp_shared, g_shared) = got[False], got[True]
    torch.testing.assert_close(lp_shared, lp_full, rtol=1e-5, atol=1e-5)
    assert lp_full[-1] == 0  # an empty continuation has log-probability 0
    assert set(g_shared) == set(g_full) and len(g_full) > 0
    for name, g in g_full.items():
        assert g.abs().sum() > 0, name
        scale = float(g.abs().max())  # float32 sums in another order: relative to the scale
        torch.testing.assert_close(g_shared[name], g, rtol=1e-4, atol=1e-4 * scale)
    for b in (1, 2, 4):  # batch boundaries that split a prompt's rows change nothing
        lp_b = lm.token_logprobs(model, rows, conts, temperature=0.7, batch_size=b)
        torch.testing.assert_close(lp_b.detach(), lp_full, rtol=1e-5, atol=1e-5)


def test_copy_save_load_lora_roundtrip(tiny, tmp_path):
    model, tok = tiny
    model = lora.add_lora(model, "src")
    with torch.no_grad():
        for _, p in lora.lora_params(model, "src").items():
            p.add_(0.1)
    lora.save_lora(model, "src", tmp_path / "ad")
    model = lora.add_lora(model, "dst")
    lora.copy_lora(model, "src", "dst")
    model = lora.load_lora(model, tmp_path / "ad", "loaded")
    src, dst, loaded = (lora.lora_params(model, n) for n in ("src", "dst", "loaded"))
    for n, p in src.items():
        assert torch.equal(p, dst[n.replace(".src.", ".dst.")])
        assert torch.equal(p, loaded[n.replace(".src.", ".loaded.")])
    with pytest.raises(ValueError, match="no LoRA adapter"):
        lora.load_lora(model, tmp_path, "x")


def test_frozen_environment_answers_with_adapters_disabled(tiny):
    """pi_F ignores the prompter's weights; reward = r(x, y) - mu (1 - sim(x, x'))."""
    model, tok = tiny
    model = lora.add_lora(model, "prompter")
    policy = G.PrompterPolicy(model, tok, max_new_tokens=4, temperature=1.0)
    env = G.FrozenLLMEnvironment(
        model,
        tok,
        toy_reward,
        mu=0.5,
        max_new_tokens=5,
        similarity=lambda x, xp: np.full(len(x), 0.6),
    )
    with torch.no_grad():
        a = policy.sample(XS, 2, torch.Generator().manual_seed(1))
    r1 = env(XS, a, np.random.default_rng(0))
    ys1 = env.last["answers"]
    with torch.no_grad():
        for _, p in lora.lora_params(model, "prompter").items():
            p.add_(1.0)  # a very different prompter: the frozen model must not change
    r2 = env(XS, a, np.random.default_rng(0))
    assert ys1 == env.last["answers"]
    np.testing.assert_allclose(r1, r2)
    np.testing.assert_allclose(r1, env.last["task_reward"] - 0.5 * 0.4)
    assert set(env.metrics()) == {"task_reward", "preservation"}


def test_sft_lowers_the_rewrite_loss(tiny):
    model, tok = tiny
    model = lora.add_lora(model, "sft")
    pairs = [(x, "please " + x) for x in XS]
    curve = G.sft_prompter(model, tok, pairs, steps=15, batch_size=4, lr=2e-2, progress=False)
    assert list(curve.columns) == ["step", "loss", "tokens"]
    assert curve["loss"].iloc[-3:].mean() < 0.7 * curve["loss"].iloc[:3].mean()


def test_bad_arguments(tiny):
    model, tok = tiny
    with pytest.raises(ValueError, match="no LoRA adapter"):
        G.ResponderPolicy(model, tok)  # no peft yet
    model = lora.add_lora(model, "rlhf")
    with pytest.raises(ValueError, match="temperature"):
        G.ResponderPolicy(model, tok, temperature=0)
    with pytest.raises(ValueError, match="reference adapter"):
        G.ResponderPolicy(model, tok, ref_adapter="nope")
    with pytest.raises(ValueError, match="mu"):
        G.FrozenLLMEnvironment(model, tok, toy_reward, mu=-1)
    with pytest.raises(ValueError, match="pairs is empty"):
        G.sft_prompter(model, tok, [], adapter="rlhf")
    with pytest.raises(ValueError, match="rank"):
        lora.LoRASpec(r=0).config()
    assert G.clean_rewrite(' "Please be kind."  ') == "Please be kind."


# --------------------------------------------------------------------------- the real model
@pytest.fixture(scope="session")
def smollm():
    return load_causal_lm()


@pytest.mark.slow
def test_smollm_align_pro_step_end_to_end(smollm):
    """One Align-Pro step on SmolLM2: rewrites, frozen answers, real kindness reward, MiniLM
    preservation, KL against rho_sft = the un-tuned instruct model."""
    from alignpro_lite.llm.rewards import get_reward

    model, tok = smollm
    model = lora.add_lora(model, "prompter_smoke")
    policy = G.PrompterPolicy(model, tok, adapter="prompter_smoke", max_new_tokens=8)
    env = G.FrozenLLMEnvironment(model, tok, get_reward("kindness"), max_new_tokens=8)
    res = train(policy, env, XS[:2], lam=0.05, steps=1, lr=1e-3, k=2, batch_size=2,
                metrics_fn=env.metrics, progress=False)  # fmt: skip
    row = res.metrics.iloc[0]
    assert -1 <= row["task_reward"] <= 1 and 0 < row["preservation"] <= 1
    assert abs(row["kl"]) < 1e-4  # first step: rho == rho_sft
    assert len(env.last["answers"]) == 4


@pytest.mark.parametrize("kind", ["prompter", "rlhf"])
def test_merged_lora_samples_identically_and_restores_the_base_exactly(tiny, kind):
    """Sampling with the adapter folded into the weights draws the same tokens as the side
    branch, and leaves the frozen model's weights bit for bit as they were."""
    model, tok = tiny
    model = lora.add_lora(model, kind, lora.LoRASpec(r=4))
    with torch.no_grad():  # a trained-looking adapter: the merge must matter
        for p in lora.lora_params(model, kind).values():
            p.add_(0.3 * torch.randn(p.shape, generator=torch.Generator().manual_seed(2)))
    base = {n: p.detach().clone() for n, p in model.named_parameters() if "lora_" not in n}
    cls = G.PrompterPolicy if kind == "prompter" else G.ResponderPolicy
    draws = {}
    for merge in (False, True):
        policy = cls(model, tok, adapter=kind, max_new_tokens=6, temperature=1.0, merge_lora=merge)
        with torch.no_grad():
            draws[merge] = policy.sample(XS, 3, torch.Generator().manual_seed(4)).ids
    assert draws[True] == draws[False]
    for n, p in model.named_parameters():
        if "lora_" not in n:
            assert torch.equal(p, base[n]), n
    with torch.no_grad(), lora.merged(model, kind):  # inside: the adapter is in the weights
        assert any(not torch.equal(p, base[n]) for n, p in model.named_parameters() if n in base)
    with pytest.raises(ValueError, match="no LoRA adapter"):
        with lora.merged(model, "nope"):
            pass
    # lora.sampling (the bank's and the evaluation's sampler): the adapter merged, None = frozen
    kw = dict(n=2, max_new_tokens=5, temperature=1.0, top_p=1.0, seed=3, progress=False)
    with torch.no_grad(), lora.use_adapter(model, kind):
        side = lm.sample_ids(model, tok, XS, **kw)
    with torch.no_grad(), lora.sampling(model, kind):
        assert lm.sample_ids(model, tok, XS, **kw) == side
    with torch.no_grad(), lora.use_adapter(model, None):
        plain = lm.sample_ids(model, tok, XS, **kw)
    with torch.no_grad(), lora.sampling(model, None):
        assert lm.sample_ids(model, tok, XS, **kw) == plain
    assert all(torch.equal(p, base[n]) for n, p in model.named_parameters() if n in base)


@pytest.mark.slow
def test_smollm_nca_gradient_at_rho_sft_is_zero_at_uniform_weights(smollm):
    """On the real model and the shipped kindness bank: at θ = rho_sft the NCA gradient of a
    batch is exactly 0 when the weights are uniform (λ = ∞), and not 0 at the preregistered λ."""
    from alignpro_lite.config import repo_root
    from alignpro_lite.experiment.replicate import ReplicateConfig, fit_rows, preregistered_weights
    from alignpro_lite.learn import bank as B
    from alignpro_lite.learn.distill import fit_nca, prompt_weights

    runs = repo_root() / "runs"
    model, tok = smollm
    model = lora.load_lora(model, runs / "sft", "sft_nca_test")
    rows = fit_rows(ReplicateConfig(), "align-pro", B.load_bank(runs / "bank" / "kindness"), tok)
    keep = np.flatnonzero(np.isin(rows["groups"], [0, 1]))  # two prompts, all 12 rows each
    P, C, groups = [rows["P"][i] for i in keep], [rows["C"][i] for i in keep], rows["groups"][keep]
    lam0 = preregistered_weights("kindness")[0]
    for lam in (math.inf, lam0):
        model = lora.add_lora(model, "nca_test", lora.LoRASpec(r=8))
        lora.copy_lora(model, "sft_nca_test", "nca_test")
        w, _ = prompt_weights(groups, rows["R"][keep], lam)
        fit = fit_nca(model, "nca_test", P, C, w, groups=groups, ref_adapter="sft_nca_test",
                      steps=1, prompts_per_step=2, pad_id=tok.pad_token_id, progress=False)  # fmt: skip
        g = float(fit.curve["grad_norm"].iloc[1])
        moved = max(
            float((p - lora.lora_params(model, "sft_nca_test")[n.replace(".nca_test.", ".sft_nca_test.")]).abs().max())
            for n, p in lora.lora_params(model, "nca_test").items()
        )  # fmt: skip
        if math.isinf(lam):
            assert g == 0 and moved == 0
        else:
            assert g > 1 and moved > 0
        model.delete_adapter("nca_test")


def test_token_kl_is_exact_per_token_and_unbiased_for_the_sequence_kl(tiny):
    """The per-token KL along samples of p: exactly KL(p_1 ‖ q_1) for one-token continuations,
    never negative, zero for the same adapter, and its mean matches the single-sample log-ratio's
    mean (both estimate KL(p ‖ q)) with a far smaller spread."""
    from alignpro_lite.llm.kl import clustered_mean_ci, token_kl
    from alignpro_lite.llm.lm import (
        chat_format,
        continuation_log_softmax,
        sample_ids,
        token_logprobs,
    )

    model, tok = tiny
    for name, scale in (("kl_p", 0.4), ("kl_q", 0.1)):
        model = lora.add_lora(model, name, lora.LoRASpec(r=4))
        with torch.no_grad():
            for p in lora.lora_params(model, name).values():
                p.add_(scale * torch.randn(p.shape, generator=torch.Generator().manual_seed(7)))
    pad = tok.pad_token_id
    xs = XS[:2]
    P0 = tok([chat_format(tok, x) for x in xs], add_special_tokens=False)["input_ids"]
    with lora.use_adapter(model, "kl_p"):
        ids = sample_ids(model, tok, xs, n=150, max_new_tokens=3, temperature=1.0, top_p=1.0, seed=3,
                         progress=False)  # fmt: skip
    P = [P0[i] for i in range(len(xs)) for _ in range(150)]
    C = [r for row in ids for r in row]
    k = token_kl(model, P, C, "kl_p", "kl_q", temperature=1.0, pad_id=pad)
    assert (k >= 0).all() and len(k) == len(C)
    assert (token_kl(model, P[:4], C[:4], "kl_p", "kl_p", pad_id=pad) == 0).all()
    # one-token continuations: the KL of the first next-token distributions, computed directly
    first = [c[:1] for c in C[:3]]
    k1 = token_kl(model, P[:3], first, "kl_p", "kl_q", temperature=1.0, pad_id=pad)
    dev = next(model.parameters()).device
    with torch.no_grad():
        with lora.use_adapter(model, "kl_p"):
            lp = continuation_log_softmax(model, P[:3], first, 1.0, pad, dev)[0][:, 0]
        with lora.use_adapter(model, "kl_q"):
            lq = continuation_log_softmax(model, P[:3], first, 1.0, pad, dev)[0][:, 0]
    np.testing.assert_allclose(
        k1, (lp.exp() * (lp - lq)).sum(-1).double().numpy(), rtol=1e-5, atol=1e-7
    )
    # unbiased: the log-ratio has the same mean (CRN: the same samples), far more spread
    with torch.no_grad():
        with lora.use_adapter(model, "kl_p"):
            a = token_logprobs(model, P, C, temperature=1.0, pad_id=pad)
        with lora.use_adapter(model, "kl_q"):
            b = token_logprobs(model, P, C, temperature=1.0, pad_id=pad)
    lr = (a - b).double().numpy()
    k2, lr2 = token_kl(model, P, C, "kl_p", "kl_q", temperature=1.0, pad_id=pad, log_ratio=True)
    np.testing.assert_allclose(k2, k)
    np.testing.assert_allclose(lr2, lr, atol=1e-4)  # the same log-ratio from the same passes
    se = np.sqrt(lr.var() / len(lr) + k.var() / len(k))
    assert abs(lr.mean() - k.mean()) < 4 * se
    assert k.std() < lr.std()
    m, lo, hi = clustered_mean_ci(k, np.repeat([0, 1], 150))
    assert lo <= m <= hi and m == pytest.approx(k.reshape(2, -1).mean(1).mean())
