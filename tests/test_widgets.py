"""The dashboards, driven programmatically (no browser): the slider moves the numbers."""

import numpy as np
import pytest

import alignpro_lite as apl
from alignpro_lite.ui import widgets


@pytest.fixture(scope="module")
def problem():
    return apl.teaching_problem()


def test_lam_slider_changes_the_shown_numbers(problem):
    d = widgets.lam_dashboard(problem, lam=1.0)
    before, png_before = d.readout.value, d.image.value
    d.slider.value = 0.01  # what a student's drag does
    assert d.lam == pytest.approx(0.01)
    assert d.readout.value != before and d.image.value != png_before
    rho = problem.optimal_prompter(0.01)[0]
    assert d.values["reward"] == pytest.approx(rho @ problem.R[0])
    assert f"{d.values['reward']:.4f}" in d.readout.value
    assert d.image.value[:4] == b"\x89PNG"


def test_prompt_selector_and_all_prompts_view(problem):
    d = widgets.lam_dashboard(problem, lam=0.1)
    d.selector.value = widgets.ALL
    mean = apl.mean_reward(problem.optimal_prompter(0.1), problem.R, problem.P)
    assert d.values["reward"] == pytest.approx(mean)
    d.selector.value = 2
    assert d.values["reward"] == pytest.approx(problem.optimal_prompter(0.1)[2] @ problem.R[2])


def test_redraw_is_fast(problem):
    d = widgets.lam_dashboard(problem)
    times = []
    for lam in np.geomspace(1e-3, 1e2, 12):
        d.set_lam(lam)
        times.append(d.redraw_ms)
    print(f"median redraw {np.median(times):.1f} ms")
    assert np.median(times) < 250  # target < 100 ms on an idle laptop; CI machines are busy


def test_bound_dashboard(problem):
    b = widgets.bound_dashboard(problem, lam=0.1, beta=0.1)
    v0 = dict(b.values)
    b.slider.value = 1.0
    assert b.values != v0
    assert b.values["gap"] <= b.values["bound"] + 1e-12
    g = dict(b.values)
    b.beta_slider.value = 1.0
    assert b.values["gap"] != g["gap"]
    b.selector.value = 3
    assert b.image.value[:4] == b"\x89PNG"


def test_bound_dashboard_needs_tabular(problem):
    table = apl.DiscreteProblem(rho_sft=problem.rho_sft, P=problem.P, R_table=problem.R)
    with pytest.raises(ValueError, match="tabular"):
        widgets.bound_dashboard(table)
    widgets.lam_dashboard(table)  # the λ dashboard works on estimated tables too


def _sweep_rows():
    import pandas as pd

    lams = [0.02, 0.07, 0.3, 1.1, np.inf]
    sweep = pd.DataFrame({"task": "kindness", "method": [f"Align-Pro λ={v}" for v in lams], "lam": lams,
                          "mean": [0.5, 0.45, 0.4, 0.36, 0.35], "ci_low": [0.4, 0.35, 0.3, 0.26, 0.25],
                          "ci_high": [0.6, 0.55, 0.5, 0.46, 0.45], "variance": [0.1, 0.12, 0.14, 0.15, 0.16],
                          "var_within": [0.05, 0.06, 0.07, 0.08, 0.08], "kl": [2.0, 1.2, 0.4, 0.1, 0.0]})  # fmt: skip
    ex = pd.DataFrame({"lam": lams, "x": "be nice", "x_prime": [f"rewrite at {v}" for v in lams],
                       "y": "answer", "reward": 0.3})  # fmt: skip
    return sweep, ex


def test_sweep_dashboard_moves_over_the_refitted_prompters():
    sweep, ex = _sweep_rows()
    d = widgets.sweep_dashboard(sweep, ex, lam=0.07)
    assert d.values["mean"] == pytest.approx(0.45) and d.values["kl"] == pytest.approx(1.2)
    assert "rewrite at 0.07" in d.table.value
    png = d.image.value
    d.slider.value = np.inf  # the student drags to λ = ∞: rho_sft itself
    assert d.values["kl"] == 0.0 and "rewrite at inf" in d.table.value
    assert "∞ (rho_sft)" in d.readout.value and d.image.value != png
    d.set_lam(0.25)  # a value off the grid: the nearest refitted prompter
    assert d.lam == 0.3
    with pytest.raises(ValueError, match="empty"):
        widgets.sweep_dashboard(sweep.iloc[:0])


def test_bank_dashboard_moves_smoothly_over_the_bank_weights():
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(6), 12)
    R = rng.normal(0.4, 0.3, 72)
    d = widgets.bank_dashboard(groups, R, noise_floor=0.4, lam=0.05)
    assert "below the noise floor" in d.readout.value
    png, lo = d.image.value, d.values
    d.slider.value = 10.0
    hi = d.values
    assert d.image.value != png and "below" not in d.readout.value
    # more λ: weights closer to uniform: ESS up, KL(w || uniform) down, E_w[R̂] down to the mean
    assert hi["ess"] > lo["ess"] and hi["kl"] < lo["kl"] and hi["reward"] < lo["reward"]
    assert hi["reward"] == pytest.approx(R.mean(), abs=0.01) and hi["ess"] == pytest.approx(
        12, abs=0.1
    )
    # smooth: a small move of λ moves every number a little
    d.set_lam(0.3)
    a = dict(d.values)
    d.set_lam(0.3 * 1.02)
    for k in ("reward", "ess", "kl"):
        assert abs(d.values[k] - a[k]) < 0.05 * max(1.0, abs(a[k]))
    c = widgets.bank_weight_curves(groups, R, [np.inf])
    assert c["kl"][0] == 0 and c["ess"][0] == pytest.approx(12)
    with pytest.raises(ValueError, match="lam"):
        d.set_lam(-1.0)


def test_setup_style_talk_and_fast_switch(monkeypatch):
    import matplotlib as mpl

    from alignpro_lite.config import fast_mode

    monkeypatch.delenv("ALIGNPRO_FAST", raising=False)
    cfg = apl.setup(fast=True, style="talk")
    assert cfg.fast and fast_mode() and mpl.rcParams["font.size"] >= 12
    cfg = apl.setup(fast=False)
    assert not cfg.fast and mpl.rcParams["font.size"] == 10
    with pytest.raises(ValueError, match="style"):
        apl.setup(style="poster")


def test_dpo_dashboard_moves_rho_star_and_the_dpo_fit_together(problem):
    from alignpro_lite.exact import dpo

    W = dpo.preference_table(problem.rho_sft, problem.R)  # exact labels: DPO recovers rho*
    d = widgets.dpo_dashboard(problem, W, lam=0.05)
    png = d.image.value
    assert d.values["tv"] < 1e-6
    assert np.allclose(d.values["dpo"], problem.optimal_prompter(0.05)[0], atol=1e-6)
    d.slider.value = 2.0
    assert d.image.value != png and d.lam == pytest.approx(2.0)
    assert np.allclose(d.values["rho_star"], problem.optimal_prompter(2.0)[0])
    assert np.allclose(d.values["dpo"], d.values["rho_star"], atol=1e-6)
    with pytest.raises(ValueError, match="x must be"):
        widgets.dpo_dashboard(problem, W, x=99, interactive=False)


def test_overopt_dashboard_reads_proxy_and_gold_at_lam():
    import pandas as pd

    lams = np.geomspace(1e-3, 1e2, 30)
    df = pd.DataFrame({"lam": lams, "kl": 1 / (1 + lams), "proxy": -np.log(lams),
                       "gold": np.exp(-((np.log(lams) + 3) ** 2))})  # fmt: skip
    d = widgets.overopt_dashboard({"BT": df}, lam=np.exp(-3))
    assert d.values["BT"]["gold"] == pytest.approx(1.0, abs=0.02)  # the gold peak
    png = d.image.value
    d.slider.value = 1e-3
    assert d.values["BT"]["proxy"] == pytest.approx(-np.log(1e-3))  # the proxy keeps rising
    assert d.values["BT"]["gold"] < 0.5 and d.image.value != png
    with pytest.raises(ValueError, match="empty"):
        widgets.overopt_dashboard({})
