"""Round 2's pooled estimators: the crossed prompts x seeds interval, best-of-n's U-statistic."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from alignpro_lite.atomic import write_sealed_json
from alignpro_lite.experiment import pooled as P


def test_one_seed_is_the_paired_t_interval():
    rng = np.random.default_rng(0)
    d = rng.normal(0.1, 0.3, size=(60, 1))
    r = P.crossed_mean_ci(d)
    t = stats.ttest_1samp(d[:, 0], 0.0)
    ci = t.confidence_interval(0.95)
    assert r["mean"] == pytest.approx(d.mean())
    assert (r["ci_low"], r["ci_high"]) == pytest.approx((ci.low, ci.high))
    assert r["df"] == pytest.approx(59)


def test_crossed_variance_matches_the_anova_identity():
    """se² = (MS_p + MS_s - MS_e)/(nS) when MS_s >= MS_e, computed here from a two-way ANOVA
    written out longhand."""
    rng = np.random.default_rng(1)
    n, S = 40, 3
    d = rng.normal(0, 0.2, (n, 1)) + rng.normal(0, 0.3, (1, S)) + rng.normal(0, 0.1, (n, S))
    m = d.mean()
    ss_p = S * ((d.mean(1) - m) ** 2).sum()
    ss_s = n * ((d.mean(0) - m) ** 2).sum()
    ss_e = ((d - m) ** 2).sum() - ss_p - ss_s
    ms_p, ms_s, ms_e = ss_p / (n - 1), ss_s / (S - 1), ss_e / ((n - 1) * (S - 1))
    assert ms_s > ms_e
    r = P.crossed_mean_ci(d)
    assert r["se"] ** 2 == pytest.approx((ms_p + ms_s - ms_e) / (n * S))
    assert r["seed_sd"] == pytest.approx(math.sqrt((ms_s - ms_e) / n))
    assert 2 <= r["df"] <= n - 1


def test_seed_spread_widens_the_interval_and_conditional_ignores_it():
    rng = np.random.default_rng(2)
    base = rng.normal(0.1, 0.2, (60, 1)) + rng.normal(0, 0.05, (60, 3))
    spread = base + np.array([[-0.2, 0.0, 0.2]])
    a, b = P.crossed_mean_ci(base), P.crossed_mean_ci(spread)
    assert b["ci_high"] - b["ci_low"] > 3 * (a["ci_high"] - a["ci_low"])
    c1, c2 = P.conditional_mean_ci(base), P.conditional_mean_ci(spread)
    assert c2["ci_high"] - c2["ci_low"] == pytest.approx(c1["ci_high"] - c1["ci_low"])


def test_crossed_interval_covers_at_its_level():
    """Coverage by simulation with a real seed effect (prompts and seeds random): close to 95 %
    (Satterthwaite is approximate with 3 seeds; a naive prompt-only interval covers far less)."""
    rng = np.random.default_rng(3)
    hit = naive = 0
    reps = 1500
    for _ in range(reps):
        d = (0.1 + rng.normal(0, 0.15, (60, 1)) + rng.normal(0, 0.05, (1, 3))
             + rng.normal(0, 0.2, (60, 3)))  # fmt: skip
        r, c = P.crossed_mean_ci(d), P.conditional_mean_ci(d)
        hit += r["ci_low"] <= 0.1 <= r["ci_high"]
        naive += c["ci_low"] <= 0.1 <= c["ci_high"]
    assert 0.92 <= hit / reps <= 0.995
    assert naive / reps < 0.85


@pytest.mark.parametrize("bad", [np.zeros((1, 3)), np.zeros(5), np.array([[0.0, np.nan], [1, 2]])])
def test_bad_matrices_are_refused(bad):
    with pytest.raises(ValueError, match="d "):
        P.crossed_mean_ci(bad)


def test_bon_ustat_is_the_mean_max_over_all_subsets():
    rng = np.random.default_rng(4)
    r = rng.normal(size=9).round(1)  # ties included
    for n in (1, 2, 4, 9):
        brute = np.mean([max(c) for c in itertools.combinations(r, n)])
        assert P.bon_ustat(r, n) == pytest.approx(brute)
    assert P.bon_ustat(r, 1) == pytest.approx(r.mean())
    with pytest.raises(ValueError, match="pool size"):
        P.bon_ustat(r, 10)


def test_bon_ustat_is_unbiased():
    """Mean of the estimator over many pools = E max of n iid draws (here U(0,1): n/(n+1))."""
    rng = np.random.default_rng(5)
    est = [P.bon_ustat(rng.random(16), 4) for _ in range(4000)]
    assert np.mean(est) == pytest.approx(4 / 5, abs=0.005)


def _toy_round(seeds=(0, 1, 2), n=6, k=4, m=8, shift=0.3, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for s in seeds:
        for method, mu in (("NoFT", 0.0), ("Align-Pro", shift / 2), ("RLHF", shift),
                           ("SFT prompter (λ=∞)", shift / 4)):  # fmt: skip
            for i in range(n):
                for j in range(k):
                    rows.append({"task": "kindness", "method": method, "prompt_id": i, "sample": j,
                                 "reward": mu + 0.1 * i + rng.normal(0, 0.1), "seed": s,
                                 "bon_n": math.nan})  # fmt: skip
    samples = pd.DataFrame(rows)
    bon = samples[samples["method"] == "NoFT"].assign(method="Best-of-n", bon_n=2)
    pool = pd.DataFrame([{"task": "kindness", "prompt_id": i, "sample": j,
                          "reward": 0.1 * i + rng.normal(0, 0.1)} for i in range(n) for j in range(m)])  # fmt: skip
    return pd.concat([samples, bon], ignore_index=True), pool


def test_tables_on_a_toy_round():
    samples, pool = _toy_round()
    t = P.prompt_table(samples, pool)
    assert t[("NoFT", 0)].equals(t[("NoFT", 2)])  # one pool for every seed
    d = P.pooled_differences(t)
    row = d[(d["a"] == "RLHF") & (d["b"] == "NoFT") & (d["estimator"] == "crossed")].iloc[0]
    assert row["mean"] == pytest.approx(0.3, abs=0.05) and row["significant"]
    assert set(d["seed"]) == {"0", "1", "2", "pooled"}
    g = P.gap_table(t, d, n_boot=200)
    assert g.iloc[0]["status"] == "defined"
    assert g.iloc[0]["gap_closed"] == pytest.approx(0.5, abs=0.15)
    v = P.variance_table(samples, pool, n_boot=50)
    assert "Best-of-n" not in set(v["method"])
    assert {"total_minus_noft", "within_minus_noft"} <= set(v.columns)


def test_gap_is_undefined_when_rlhf_does_not_beat_noft():
    samples, pool = _toy_round(shift=0.0, seed=1)
    t = P.prompt_table(samples, pool)
    g = P.gap_table(t, P.pooled_differences(t), n_boot=100)
    assert g.iloc[0]["status"].startswith("undefined") and math.isnan(g.iloc[0]["gap_closed"])


def _write_toy_round(root, seeds=(0, 1)):
    """Two seeds' report/samples.csv and NoFT pools, with a frontier on seed 0."""
    rng = np.random.default_rng(7)
    n, k, m = 6, 4, 8
    pool = pd.DataFrame([{"task": "kindness", "method": "NoFT pool", "prompt_id": i, "sample": j,
                          "reward": 0.1 * i + rng.normal(0, 0.1)} for i in range(n) for j in range(m)])  # fmt: skip
    for s in seeds:
        rows = []
        methods = [("NoFT", 0.0, math.nan, math.nan, 0.0), ("Align-Pro", 0.1, 0.4, math.nan, 0.05),
                   ("SFT prompter (λ=∞)", 0.05, math.inf, math.nan, 0.0),
                   ("RLHF", 0.3, math.nan, 0.14, 0.2)]  # fmt: skip
        if s == 0:
            methods += [(f"Align-Pro λ={lam:.4g}", 0.1 if lam < 6 else 0.0, lam, math.nan, 0.02 / lam)
                        for lam in (0.1, 0.4, 1.6, 6.4)]  # fmt: skip
            methods += [(f"RLHF β={b:.4g}", 0.3, math.nan, b, 0.03 / b) for b in (0.035, 0.55)]
        for method, mu, lam, beta, kl in methods:
            for i in range(n):
                for j in range(k):
                    rows.append({"task": "kindness", "method": method, "prompt_id": i, "sample": j,
                                 "stream": 1000 + j, "reward": mu + 0.1 * i + rng.normal(0, 0.1), "lam": lam,
                                 "beta": beta, "kl_tok": kl, "log_ratio": kl, "copy": False,
                                 "bon_n": math.nan})  # fmt: skip
        samples = pd.DataFrame(rows)
        bon = samples[samples["method"] == "NoFT"].assign(method="Best-of-n", bon_n=2)
        d = root / f"seed{s}"
        (d / "report").mkdir(parents=True)
        (d / "eval" / "kindness").mkdir(parents=True)
        pd.concat([samples, bon]).to_csv(d / "report" / "samples.csv", index=False)
        write_sealed_json(d / "report", "report.json", {"seed": s})  # as replicate writes it
        pool.drop(columns="task").to_csv(d / "eval" / "kindness" / "NoFT_pool.csv", index=False)


def test_pool_round_writes_the_set_and_judges_targets(tmp_path):
    _write_toy_round(tmp_path)
    t = P.pool_round(tmp_path, seeds=(0, 1))
    for name in P.ROUND2_FILES:
        assert (tmp_path / "report" / name).is_file()
    f = t["frontier"]
    assert set(f["method"]) == {"Align-Pro", "RLHF", "Best-of-n"}
    assert P.monotone_in_weight(f, "Align-Pro") and P.monotone_in_weight(f, "Best-of-n")
    pooled = t["pooled"]
    cf = pooled[pooled["b"] == P.CF]
    assert len(cf) == 2 and cf["mean"].notna().all()  # closed-form rho* from the test table
    tg = t["targets"]
    assert set(tg["target"]) >= {"1", "3", "4", "6", "7"}
    assert tg.loc[(tg["target"] == "1"), "met"].all()


def test_sweep_contrast_pairs_lam0_with_16_lam0_by_stream(tmp_path):
    _write_toy_round(tmp_path)
    t = P.pool_round(tmp_path, seeds=(0, 1))
    c = t["per_seed"]
    c = c[c["a"].str.startswith("Align-Pro λ0") & (c["measure"] == "reward")]
    assert len(c) == 1 and c.iloc[0]["b"].startswith("Align-Pro 16λ0 (6.4")
    assert c.iloc[0]["mean"] == pytest.approx(0.1, abs=0.1)  # the toy's λ0 − 16λ0 is +0.1
    assert c.iloc[0]["ci_low"] < c.iloc[0]["mean"] < c.iloc[0]["ci_high"]
    kl = t["per_seed"]
    kl = kl[kl["a"].str.startswith("Align-Pro λ0") & (kl["measure"] == "kl_tok")].iloc[0]
    assert kl["mean"] == pytest.approx(0.02 / 0.4 - 0.02 / 6.4)
    # without the 16λ0 refit the contrast names what is missing
    samples, _ = P.load_round(tmp_path, seeds=(0,))
    with pytest.raises(ValueError, match="no Align-Pro refit at λ = 6.4"):
        P.sweep_contrast(samples[samples["method"] != "Align-Pro λ=6.4"])


def test_round_samples_make_each_seed_a_complete_paired_comparison(tmp_path):
    _write_toy_round(tmp_path)
    t = P.pool_round(tmp_path, seeds=(0, 1))
    s = pd.read_csv(tmp_path / "report" / "samples.csv")
    assert "Best-of-n" not in set(s["method"])
    for seed in (0, 1):
        g = s[(s["seed"] == seed) & (s["method"] == "NoFT")]
        assert g.groupby("prompt_id").size().eq(8).all()  # the whole pool, under every seed
    # the per-seed Align-Pro − NoFT recomputed from the file alone matches the table
    pm = s[s["seed"] == 1].groupby(["method", "prompt_id"])["reward"].mean().unstack("method")
    row = t["per_seed"]
    row = row[(row["a"] == "Align-Pro") & (row["b"] == "NoFT") & (row["seed"] == "1")].iloc[0]
    assert row["mean"] == pytest.approx((pm["Align-Pro"] - pm["NoFT"]).mean())


def test_pool_round_names_a_missing_seed(tmp_path):
    _write_toy_round(tmp_path, seeds=(0,))
    with pytest.raises(ValueError, match="seed1"):
        P.pool_round(tmp_path, seeds=(0, 1))


def test_round_figures_draw_the_pooled_tables(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from alignpro_lite.ui import plots

    _write_toy_round(tmp_path)
    t = P.pool_round(tmp_path, seeds=(0, 1))
    fig = plots.plot_round_forest(t["pooled"], t["per_seed"], predicted=P.PREDICTED)
    labels = [x.get_text() for x in fig.axes[0].get_yticklabels()]
    assert "kindness: Align-Pro − NoFT" in labels and len(labels) == len(
        t["pooled"][t["pooled"]["estimator"] == "crossed"]
    )
    assert not any("variance" in lab for lab in labels)
    exact = {"Align-Pro": pd.DataFrame({"kl": [0.0, 0.5], "reward": [0.1, 0.3]})}
    cand = pd.DataFrame({"kl": [0.0, 1.0], "reward": [0.2, 0.4]})
    fig2 = plots.plot_round_frontier(t["frontier"], exact=exact, candidates=cand)
    assert len(fig2.axes) == 2
    fig3 = plots.plot_round_variance(t["variance"])
    assert [x.get_text() for x in fig3.axes[0].get_legend().get_texts()] == [
        "NoFT", "SFT prompter (λ=∞)", "Align-Pro", "RLHF"
    ]  # fmt: skip
    sw = t["sweep"]  # the λ dashboard's rows: one per refit, KL falling with λ
    assert list(sw["lam"]) == [0.1, 0.4, 1.6, 6.4] and (sw["kl"].diff().dropna() < 0).all()
    texts = {a.get_text() for a in fig2.axes[1].texts}
    assert {"λ=0.4", "β=0.55", "n=2"} <= texts
    plt.close("all")


def test_load_pooled_reads_back_the_set_and_names_what_is_missing(tmp_path):
    _write_toy_round(tmp_path)
    t = P.pool_round(tmp_path, seeds=(0, 1))
    back = P.load_pooled(tmp_path / "report")
    assert len(back["pooled"]) == len(t["pooled"]) and back["meta"]["seeds"] == [0, 1]
    (tmp_path / "report" / "gap.csv").unlink()
    with pytest.raises(ValueError, match="gap.csv missing"):
        P.load_pooled(tmp_path / "report")
