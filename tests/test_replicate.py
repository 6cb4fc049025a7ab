"""Route (b) and the replication: the bank (checksums, resume), the weighted-MLE fit, the
baselines, and the whole `replicate` pipeline at tiny settings."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import torch

from alignpro_lite.experiment import baselines
from alignpro_lite.learn import bank as B
from alignpro_lite.learn.distill import fit_weighted, prompt_weights


# --------------------------------------------------------------------------- weights
def test_prompt_weights_normalise_within_each_prompt():
    groups = [0, 0, 0, 1, 1]
    R = [0.0, 1.0, 0.0, 5.0, 5.0]
    w, ess = prompt_weights(groups, R, lam=0.5)
    assert w[:3].sum() == pytest.approx(1) and w[3:].sum() == pytest.approx(1)
    assert w[1] == pytest.approx(math.exp(2) / (math.exp(2) + 2))
    assert ess[1] == pytest.approx(2.0)  # equal values: every sample counts
    w_inf, ess_inf = prompt_weights(groups, R, lam=math.inf)
    np.testing.assert_allclose(w_inf, [1 / 3] * 3 + [0.5] * 2)
    np.testing.assert_allclose(ess_inf, [3, 2])
    _, ess_small = prompt_weights(groups, R, lam=1e-3)
    assert ess_small[0] == pytest.approx(1.0)  # λ → 0: the best sample takes all


def test_hinge_penalty_is_zero_above_tau_and_linear_below():
    np.testing.assert_allclose(B.hinge_penalty([1.0, 0.6, 0.7, 0.5, 0.1], mu=2, tau=0.6),
                               [0, 0, 0, 0.2, 1.0])  # fmt: skip
    with pytest.raises(ValueError, match="mu"):
        B.hinge_penalty([0.5], mu=-1)


def _toy_bank():
    rw = pd.DataFrame({"prompt_id": [0, 0, 0, 1], "j": [0, 1, 2, 0], "heldout": [False] * 4,
                       "x": ["a", "a", "a", "b"], "x_prime": ["a", "a2", "a", "b"],
                       "sim": [1.0, 0.3, 1.0, 1.0], "copy": [True, False, True, True]})  # fmt: skip
    ans = pd.DataFrame({"prompt_id": [0, 0, 0, 0, 0, 0, 1, 1], "j": [0, 0, 1, 1, 2, 2, 0, 0],
                        "a": [0, 1] * 4, "reward": [1, 0, 1, 1, 0, 0, 0.5, 0.5]})  # fmt: skip
    return {"rewrites": rw, "answers": ans}


def test_rewrite_values_use_each_samples_own_answers_and_apply_the_hinge():
    v = B.rewrite_values(_toy_bank(), mu=1.0, tau=0.6)
    # rewrites 0 and 2 of prompt 0 are the same text, but each keeps its own answers: pooling
    # would give rows different noise, which exp(R̂/λ) turns into a bias toward rare rewrites
    assert v.loc[0, "task_reward"] == pytest.approx(0.5) and v.loc[0, "n_answers"] == 2
    assert v.loc[2, "task_reward"] == pytest.approx(0.0)
    assert v.loc[1, "penalty"] == pytest.approx(0.3)
    assert v.loc[1, "R_hat"] == pytest.approx(1.0 - 0.3)
    assert v.loc[3, "R_hat"] == pytest.approx(0.5)


# --------------------------------------------------------------------------- baselines
def test_best_of_n_plugin_kl_with_and_without_ties():
    many = np.linspace(0, 1, 20_000)  # distinct values: the formula
    assert baselines.bon_kl_plugin(many, 7) == pytest.approx(baselines.bon_kl(7), abs=1e-3)
    coin = np.array([0.0, 1.0] * 50)  # a 0/1 reward with p = 1/2: P(max = 1) = 1 - 2**-n
    p1 = 1 - 0.5**7
    want = p1 * math.log(p1 / 0.5) + (1 - p1) * math.log((1 - p1) / 0.5)
    assert baselines.bon_kl_plugin(coin, 7) == pytest.approx(want)
    assert baselines.bon_kl_plugin(coin, 7) < baselines.bon_kl(7)
    assert baselines.bon_kl_plugin(np.ones(5), 3) == 0.0  # all tied: best-of-n is pi itself


def test_best_of_n_kl_and_matching_n():
    assert baselines.bon_kl(1) == 0
    assert baselines.bon_kl(4) == pytest.approx(math.log(4) - 0.75)
    assert baselines.bon_n_for_kl(0.0, 16) == 1
    assert baselines.bon_n_for_kl(baselines.bon_kl(7) + 0.01, 16) == 7
    assert baselines.bon_n_for_kl(50.0, 16) == 16
    with pytest.raises(ValueError, match="kl"):
        baselines.bon_n_for_kl(float("nan"), 4)


def test_best_of_n_rows_take_the_best_of_a_cyclic_window_and_keep_the_stream():
    r = [0.1, 0.9, 0.3, 0.5]
    pool = pd.DataFrame({"task": "t", "prompt_id": 0, "sample": range(4), "stream": [10, 11, 12, 13],
                         "reward": r, "y": list("abcd"), "method": "NoFT"})  # fmt: skip
    b2 = baselines.best_of_n_samples(pool, 2, 3)
    assert list(b2["reward"]) == [0.9, 0.9, 0.5] and list(b2["y"]) == ["b", "b", "d"]
    assert list(b2["stream"]) == [10, 11, 12] and list(b2["sample"]) == [0, 1, 2]
    assert list(b2["source_sample"]) == [1, 1, 3]
    b1 = baselines.best_of_n_samples(pool, 1, 4)  # n = 1 is NoFT itself
    assert list(b1["reward"]) == r and (b1["log_ratio"] == 0).all() and (b1["kl_plugin"] == 0).all()
    with pytest.raises(ValueError, match="n must be"):
        baselines.best_of_n_samples(pool, 5, 2)


# --------------------------------------------------------------------------- fit
@pytest.fixture(scope="module")
def lm(tiny_path):
    """The tiny random causal LM of the test suite (SmolLM2's tokenizer): the mechanics, fast."""
    from alignpro_lite.llm.lm import load_causal_lm

    return load_causal_lm(str(tiny_path), device="cpu")


def test_fit_weighted_moves_mass_to_the_heavy_target(lm):
    from alignpro_lite.llm import lora
    from alignpro_lite.llm.lm import token_logprobs

    model, tok = lm
    torch.manual_seed(0)
    model = lora.add_lora(model, "t_fit", lora.LoRASpec(r=4))
    P = tok(["please tell me a good"], add_special_tokens=False)["input_ids"] * 2
    C = [tok(w, add_special_tokens=False)["input_ids"] for w in ("cat", "dog")]
    assert C[0] != C[1] and 3 not in P[0]  # words of the tiny vocabulary, no <unk>
    pad = tok.pad_token_id

    def gap():
        with torch.no_grad(), lora.use_adapter(model, "t_fit"):
            lp = token_logprobs(model, P, C, temperature=0.7, pad_id=pad)
        return float(lp[1] - lp[0])

    before = gap()
    curve = fit_weighted(model, "t_fit", P, C, [0.02, 0.98], groups=[0, 0], per_prompt=2,
                         steps=6, batch_size=2, lr=1e-2, progress=False)  # fmt: skip
    assert gap() > before + 1.0  # the heavy target gained log-probability on the light one
    assert list(curve["step"]) == list(range(7))
    with pytest.raises(ValueError, match="weights"):
        fit_weighted(model, "t_fit", P, C, [0.0, 0.0], progress=False)
    with pytest.raises(ValueError, match="adapter"):
        fit_weighted(model, "nope", P, C, [1.0, 1.0], progress=False)


# --------------------------------------------------------------------------- the pipeline
@pytest.fixture(scope="module")
def replicated(tmp_path_factory, lm):
    from alignpro_lite.experiment.replicate import fast_config, replicate

    out = tmp_path_factory.mktemp("rep")
    cfg = fast_config(tasks=("kindness", "helpfulness"), sweep_tasks=("kindness",))
    model, tok = lm
    tables = replicate(out, cfg, model=model, tok=tok, progress=False)
    return out, cfg, tables, lm


def test_replicate_writes_the_report_set(replicated):
    from alignpro_lite.experiment.replicate import BON_LABEL, SFT_LABEL

    out, cfg, tables, _ = replicated
    rep = out / "report"
    for name in ("samples.csv", "summary.csv", "paired.csv", "gap.csv", "baselines.csv",
                 "implicit.csv", "ess.csv", "curves.csv", "fits.csv", "report.json"):  # fmt: skip
        assert (rep / name).is_file(), name
    s = pd.read_csv(rep / "samples.csv")
    methods = set(s["method"])
    assert {"NoFT", "Align-Pro", "RLHF", SFT_LABEL, BON_LABEL} <= methods
    assert any(m.startswith("Align-Pro λ=") for m in methods)
    # paired: every main method has the same streams per (task, prompt, sample) as NoFT
    main = s[~s["method"].str.startswith("Align-Pro λ=")]
    streams = main.groupby(["task", "prompt_id", "sample"])["stream"].nunique()
    assert (streams == 1).all()
    # the SFT prompter is its own reference: its log-ratio is exactly 0
    assert (s.loc[s["method"] == SFT_LABEL, "log_ratio"] == 0).all()
    meta = json.loads((rep / "report.json").read_text())
    assert meta["machine"] and meta["config"]["n_samples"] == cfg.n_samples
    # the bank is checksummed and holds the promised counts
    man = json.loads((out / "bank" / "kindness" / "manifest.json").read_text())
    n_x = cfg.n_prompts
    assert (
        man["stages"]["answers"]["rows"] == n_x * (cfg.n_rewrites + cfg.n_heldout) * cfg.n_answers
    )
    assert man["stages"]["responses"]["rows"] == n_x * cfg.n_responses


def test_replicate_resumes_without_redoing_work_and_refuses_other_settings(replicated):
    from alignpro_lite.experiment.replicate import fast_config, replicate

    out, cfg, tables, (model, tok) = replicated
    stamp = {p: p.stat().st_mtime_ns for p in (out / "bank").rglob("*.jsonl")}
    again = replicate(out, cfg, model=model, tok=tok, progress=False)
    assert {p: p.stat().st_mtime_ns for p in stamp} == stamp  # nothing redrawn
    pd.testing.assert_frame_equal(again["summary"], tables["summary"])
    with pytest.raises(ValueError, match="other settings"):
        replicate(out, fast_config(tasks=("kindness", "helpfulness"), fit_steps=3), model=model,
                  tok=tok, progress=False)  # fmt: skip


def test_a_corrupted_bank_file_is_named(replicated, tmp_path):
    import shutil

    out, *_ = replicated
    copy = tmp_path / "bank"
    shutil.copytree(out / "bank" / "kindness", copy)
    with open(copy / "answers.jsonl", "a", encoding="utf-8") as f:
        f.write("\n")
    with pytest.raises(ValueError, match="answers.jsonl.*checksum"):
        B.load_bank(copy)
    with pytest.raises(ValueError, match="no sample bank"):
        B.load_bank(tmp_path / "empty")


# --------------------------------------------------------------------------- the shipped replication
RUNS = __import__("pathlib").Path(__file__).resolve().parent.parent / "runs"


@pytest.mark.skipif(not (RUNS / "bank").is_dir(), reason="no shipped replication")
def test_the_shipped_replication_is_whole_and_at_scale():
    from alignpro_lite.llm.tasks import TASKS

    for task in TASKS:
        bank = B.load_bank(RUNS / "bank" / task)  # every file matches its checksum
        fit_answers = bank["answers"].merge(bank["rewrites"][["prompt_id", "j", "heldout"]])
        assert (~fit_answers["heldout"]).sum() >= 2000  # prompter rollouts of the fit
        assert len(bank["responses"]) >= 2000  # RLHF rollouts
        assert bank["rewrites"]["prompt_key"].nunique() == 60
    fits = pd.read_csv(RUNS / "report" / "fits.csv")
    main = fits[~fits["folder"].str.startswith("sweep")]
    assert (main["rollouts"] >= 2000).all() and set(main["task"]) == set(TASKS)
    meta = json.loads((RUNS / "report" / "report.json").read_text())
    assert meta["machine"] and meta["config"]["seed"] == 0
    from alignpro_lite.experiment.replicate import preregistered_weights

    for _, f in main.iterrows():  # the preregistered λ and β, nothing else
        lam, beta = preregistered_weights(f["task"])
        assert f["weight"] == pytest.approx(lam if f["method"] == "align-pro" else beta)


# --------------------------------------------------------------------------- NCA
def _nca_setup(lm, ref: str | None, seed: int = 0):
    from alignpro_lite.llm import lora

    model, tok = lm
    torch.manual_seed(seed)
    name = f"n_fit_{ref}_{seed}"
    model = lora.add_lora(model, name, lora.LoRASpec(r=4))
    if ref is not None:
        if ref not in model.peft_config:
            model = lora.add_lora(model, ref, lora.LoRASpec(r=4))
            with torch.no_grad():  # a trained-looking reference
                for p in lora.lora_params(model, ref).values():
                    p.add_(0.2 * torch.randn(p.shape, generator=torch.Generator().manual_seed(3)))
        lora.copy_lora(model, ref, name)
    P = tok(["please tell me a good", "a kind word"], add_special_tokens=False)["input_ids"]
    words = ("cat", "dog", "bird")
    C = [tok(w, add_special_tokens=False)["input_ids"] for w in words]
    rows_P = [P[0]] * 3 + [P[1]] * 3
    rows_C = C + C
    return model, tok, name, rows_P, rows_C, [0, 0, 0, 1, 1, 1]


@pytest.mark.parametrize("ref", ["n_ref", None])
def test_fit_nca_at_uniform_weights_returns_its_start_bit_for_bit(lm, ref):
    """λ = ∞: every row's gradient coefficient is (1/N - w)/2 = 0 at the start, in floating point,
    so even a large learning rate leaves the adapter exactly where it began (for the prompter,
    a copy of rho_sft's adapter; for RLHF, a fresh LoRA against the adapters-disabled pi_ref)."""
    from alignpro_lite.learn.distill import fit_nca
    from alignpro_lite.llm import lora

    model, tok, name, P, C, groups = _nca_setup(lm, ref)
    start = {n: p.detach().clone() for n, p in lora.lora_params(model, name).items()}
    fit = fit_nca(model, name, P, C, np.ones(6), groups=groups, ref_adapter=ref, steps=4,
                  prompts_per_step=2, lr=0.5, pad_id=tok.pad_token_id, progress=False)  # fmt: skip
    for n, p in lora.lora_params(model, name).items():
        assert torch.equal(p, start[n]), n
    assert (fit.curve["grad_norm"].iloc[1:] == 0).all()
    assert (fit.f == 0).all() and (fit.f_star == 0).all()


def test_fit_nca_lowers_its_own_loss_toward_log_n_w(lm):
    from alignpro_lite.learn.distill import fit_nca, group_rows

    model, tok, name, P, C, groups = _nca_setup(lm, "n_ref", seed=1)
    w = np.array([0.05, 0.9, 0.05, 0.2, 0.2, 0.6])
    fit = fit_nca(model, name, P, C, w, groups=groups, ref_adapter="n_ref", steps=8,
                  prompts_per_step=2, lr=0.05, pad_id=tok.pad_token_id, progress=False)  # fmt: skip
    g = group_rows(groups)
    assert fit.loss(w, g) < fit.loss(w, g, final=False) - 0.05  # the fit lowers its own loss
    np.testing.assert_allclose(fit.f_star, np.log(3 * w))
    assert fit.f[1] > fit.f[0] and fit.f[1] > fit.f[2]  # the heavy row gained on the light ones
    assert np.corrcoef(fit.f, fit.f_star)[0, 1] > 0.5


def test_fit_nca_refuses_bad_input(lm):
    from alignpro_lite.learn.distill import fit_nca

    model, tok, name, P, C, groups = _nca_setup(lm, "n_ref", seed=2)
    with pytest.raises(ValueError, match="weights"):
        fit_nca(model, name, P, C, np.zeros(6), groups=groups, progress=False)
    with pytest.raises(ValueError, match="adapter 'nope'"):
        fit_nca(model, "nope", P, C, np.ones(6), groups=groups, progress=False)
    with pytest.raises(ValueError, match="reference adapter"):
        fit_nca(model, name, P, C, np.ones(6), groups=groups, ref_adapter="nope", progress=False)
    with pytest.raises(ValueError, match="lr"):
        fit_nca(model, name, P, C, np.ones(6), groups=groups, lr=0.0, progress=False)
    with pytest.raises(ValueError, match="steps"):
        fit_nca(model, name, P, C, np.ones(6), groups=groups, steps=0, progress=False)


def test_lam_sweep_fast_refits_and_measures_kl(replicated, tmp_path):
    """The λ sweep on the tiny replication: the λ = ∞ refit IS rho_sft (adapter unchanged, test
    KL exactly 0); every unit is reused on a rerun; the report set is complete."""
    from alignpro_lite.experiment.lam_sweep import REPORT_FILES, fast_sweep_config, lam_sweep

    out, _, _, (model, tok) = replicated
    cfg = fast_sweep_config(factors=(1.0, 16.0, math.inf))
    tables = lam_sweep(out, tmp_path / "sweep", cfg, model=model, tok=tok, progress=False)
    for name in REPORT_FILES:
        assert (tmp_path / "sweep" / "report" / name).is_file(), name
    t = tables["sweep"]
    assert list(t["factor"]) == [1.0, 16.0, math.inf]
    inf = t[np.isinf(t["lam"])].iloc[0]
    assert inf["adapter_maxabs_from_sft"] == 0 and inf["kl"] == 0 and inf["kl_high"] == 0
    assert (tables["samples"]["kl_tok"] >= 0).all()
    for col in ("kl_low", "kl_high", "reward_low", "reward_high", "slope", "loss_train"):
        assert col in t
    stamp = {p: p.stat().st_mtime_ns for p in (tmp_path / "sweep" / "fits").rglob("*.safetensors")}
    again = lam_sweep(out, tmp_path / "sweep", cfg, model=model, tok=tok, progress=False)
    assert {p: p.stat().st_mtime_ns for p in stamp} == stamp  # resumed: nothing refitted
    pd.testing.assert_frame_equal(again["sweep"], tables["sweep"])
    with pytest.raises(ValueError, match="other settings"):
        lam_sweep(out, tmp_path / "sweep", fast_sweep_config(factors=(1.0, 16.0, math.inf), lr=0.5),
                  model=model, tok=tok, progress=False)  # fmt: skip
    with pytest.raises(ValueError, match="no replication"):
        lam_sweep(tmp_path / "nothing", tmp_path / "s2", cfg, model=model, tok=tok, progress=False)


@pytest.mark.parametrize("text, word", [("{not json", "not valid JSON"),
                                        ('{"n_samples": "2"}', "'n_samples'"), ("[1, 2]", "JSON object")])  # fmt: skip
def test_a_damaged_replicate_json_is_named(tmp_path, text, word):
    from alignpro_lite.experiment.replicate import replicate

    (tmp_path / "replicate.json").write_text(text)
    with pytest.raises(ValueError, match=word) as e:
        replicate(tmp_path, model=object(), tok=object())
    assert "replicate.json" in str(e.value)


def test_a_truncated_adapter_and_a_bad_cache_folder_are_named(tmp_path, monkeypatch):
    import shutil

    from alignpro_lite.config import cache_dir, repo_root
    from alignpro_lite.llm.lora import load_lora

    src = repo_root() / "runs" / "round2" / "seed0" / "sft"
    bad = tmp_path / "sft"
    shutil.copytree(src, bad)
    data = (bad / "adapter_model.safetensors").read_bytes()
    (bad / "adapter_model.safetensors").write_bytes(data[: len(data) // 3])
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tiny = LlamaForCausalLM(LlamaConfig(hidden_size=64, intermediate_size=64, num_hidden_layers=1,
                                        num_attention_heads=4, num_key_value_heads=4, vocab_size=64))  # fmt: skip
    with torch.no_grad(), pytest.raises(ValueError, match="weights were changed after"):
        load_lora(tiny, bad, "sft")  # the digest saved beside it catches the cut first
    (bad / "weights.sha256").unlink()  # an adapter saved before digests were written
    with torch.no_grad(), pytest.raises(ValueError, match="adapter cannot be read"):
        load_lora(tiny, bad, "sft")
    f = tmp_path / "a-file"
    f.write_text("x")
    monkeypatch.setenv("ALIGNPRO_CACHE", str(f))
    with pytest.raises(ValueError, match="ALIGNPRO_CACHE"):
        cache_dir()


def test_a_tampered_evaluation_cache_is_refused(tmp_path):
    """RLHF.csv with its rewards set to 1.0 was trusted and reported (issue 24)."""
    import pandas as pd

    from alignpro_lite.experiment.replicate import cache_is_fresh, write_cache_key

    path = tmp_path / "eval" / "kindness" / "RLHF.csv"
    path.parent.mkdir(parents=True)
    pd.DataFrame({"reward": [0.2, 0.4]}).to_csv(path, index=False)
    made = {"adapter": "abc", "n": 2}
    write_cache_key(path, made)
    assert cache_is_fresh(path, made) and not cache_is_fresh(path, {**made, "n": 3})
    pd.DataFrame({"reward": [1.0, 1.0]}).to_csv(path, index=False)
    with pytest.raises(ValueError, match="changed after it was written"):
        cache_is_fresh(path, made)


def test_an_edited_fitted_adapter_is_refused(tmp_path):
    """An adapter with one weight flipped (file still valid) was evaluated without a word."""
    import json
    import shutil

    from alignpro_lite.config import repo_root
    from alignpro_lite.experiment.replicate import ReplicateConfig, _stage_fit, adapter_digest

    cfg = ReplicateConfig()
    out = tmp_path / "alignpro-kindness"
    shutil.copytree(repo_root() / "runs" / "round2" / "seed0" / "sft", out / "adapter")
    info = {"weight": 0.4, "start": None, "config": cfg.to_json(),
            "adapter_sha256": adapter_digest(out / "adapter")}  # fmt: skip
    (out / "fit.json").write_text(json.dumps(info))
    assert (
        _stage_fit(cfg, out, "align-pro", "kindness", 0.4, {}, None, None, False)["weight"] == 0.4
    )
    f = out / "adapter" / "adapter_model.safetensors"
    data = bytearray(f.read_bytes())
    data[-1] ^= 1  # one bit of one weight
    f.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="changed after the fit"):
        _stage_fit(cfg, out, "align-pro", "kindness", 0.4, {}, None, None, False)
