"""The figures: the frontier and simplex plots draw what they claim, and ``set_style("talk")``
reaches every text of every figure (no explicit small font size overrides it)."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.text import Text  # noqa: E402

import alignpro_lite as apl  # noqa: E402
from alignpro_lite.exact import frontier as fr  # noqa: E402
from alignpro_lite.exact import reachable as rc  # noqa: E402
from alignpro_lite.ui import plots, widgets  # noqa: E402

LAMS = np.geomspace(1e-3, 1e2, 40)


@pytest.fixture
def style():
    """Yields set_style; always restores the notebook style and closes the figures."""
    yield plots.set_style
    plots.set_style("notebook")
    plt.close("all")


@pytest.fixture(scope="module")
def problem():
    return apl.teaching_problem()


def _frontiers(problem):
    return {
        "Align-Pro": fr.alignpro_frontier(problem.rho_sft, problem.R, LAMS, P=problem.P, pi_F=problem.pi_F),
        "RLHF": fr.rlhf_frontier(problem.pi_ref, problem.r, LAMS, P=problem.P),
        "best-of-n": fr.best_of_n_frontier(problem.pi_ref, problem.r, [1, 2, 4, 8, 16], P=problem.P),
    }  # fmt: skip


def _texts(fig):
    fig.canvas.draw()  # tick labels exist only once drawn
    return [t for t in fig.findobj(Text) if t.get_visible()]


# --------------------------------------------------------------------------- every figure
def _prompter_bars(p):
    fig, ax = plt.subplots()
    x = int(np.flatnonzero((p.rho_sft == 0).any(axis=1))[0])  # a prompt with a rho_sft = 0 rewrite
    plots.plot_prompter_bars(ax, p.rho_sft[x], p.optimal_prompter(0.1)[x],
                             plots.candidate_labels(p.candidates[x]), p.R[x], title="bars")  # fmt: skip
    return fig


def _sweep_figure(p):
    return plots.sweep_figure(apl.sweep_metrics(p.rho_sft, p.R, LAMS, p.V, p.P), title="sweep")


def _bound(p):
    fig, ax = plt.subplots()
    terms = apl.suboptimality_bound(p.rho_sft, p.pi_F, p.r, LAMS, 0.1, P=p.P)
    plots.plot_bound(ax, LAMS, terms, lam_now=0.1)
    return fig


def _policies(p):
    fig, ax = plt.subplots()
    pi_rho = apl.induced_policy(p.optimal_prompter(0.1), p.pi_F)[0]
    pi_star = apl.rlhf_optimal_policy(p.pi_ref, p.r, 0.1)[0]
    plots.plot_policies(ax, p.responses[0], p.pi_ref[0], pi_rho, pi_star, p.r[0])
    return fig


def _rho_vs_lam(p):
    return plots.plot_rho_vs_lam(p, apl.sweep_metrics(p.rho_sft, p.R, LAMS, p.V, p.P))


def _frontier(p):
    fig, ax = plt.subplots()
    plots.plot_frontier(ax, _frontiers(p), lam_tangent=0.1)
    return fig


def _simplex(p):
    fig, ax = plt.subplots()
    plots.plot_reachable_simplex(ax, rc.three_response_problem())
    return fig


def _learning_curve(p):
    steps = np.arange(50)
    curve = pd.DataFrame({"step": steps, "objective": 0.5 - np.exp(-steps / 10),
                          "objective_exact": 0.5 - np.exp(-steps / 9), "objective_star": 0.5,
                          "tv_to_optimum": np.exp(-steps / 9)})  # fmt: skip
    axes = plots.plot_learning_curve(curve, "learning")
    return axes[0].figure


def _lam_sweep(p):
    lams = [0.1, 1.0, np.inf]
    df = pd.DataFrame({"task": "kindness", "lam": lams, "mean": [0.5, 0.4, 0.3],
                       "ci_low": [0.4, 0.3, 0.2], "ci_high": [0.6, 0.5, 0.4],
                       "variance": [0.1, 0.1, 0.1]})  # fmt: skip
    return plots.plot_lam_sweep(df)


def _training(p):
    m = pd.DataFrame(
        {"step": range(5), "task_reward": np.linspace(0, 1, 5), "kl": np.linspace(0, 2, 5)}
    )
    return plots.plot_training({"run": m})


def _overoptimisation(p):
    df = pd.DataFrame({"lam": LAMS[:5], "kl": np.linspace(2, 0, 5), "gold": [0.2, 0.5, 0.6, 0.4, 0.3],
                       "gold_best": np.linspace(0.9, 0.3, 5), "proxy": np.linspace(0.9, 0.1, 5)})  # fmt: skip
    axes = plots.plot_overoptimisation({"BT": df})
    assert len(axes) == 3 and axes[0].get_ylabel().startswith("proxy")  # the proxy is drawn
    assert not axes[2].xaxis_inverted()  # λ increases to the right, as in every notebook
    return axes[0].figure


def _fit_curves(p):
    df = pd.DataFrame({"step": [0, 1, 0, 1], "reward_is": [0.1, 0.2, 0.1, 0.3],
                       "kl_is": [0.0, 0.1, 0.0, 0.2], "method": ["align-pro"] * 2 + ["rlhf"] * 2,
                       "task": "kindness", "weight": [0.1, 0.1, 0.5, 0.5]})  # fmt: skip
    return plots.plot_fit_curves(df)


def _nca_curves(p):
    df = pd.DataFrame({"step": [0, 1, 2, 0, 1, 2], "loss": [np.nan, 1.3, 1.2, np.nan, 1.38, 1.38],
                       "grad_norm": [np.nan, 5, 4, np.nan, 0, 0], "kl_tok": [0, np.nan, 0.2, 0, np.nan, 0],
                       "method": "align-pro", "task": "kindness", "weight": [0.1] * 3 + [np.inf] * 3})  # fmt: skip
    return plots.plot_fit_curves(df)


def _generative_sweep(p):
    lams = [0.02, 0.07, 0.28, np.inf]
    df = pd.DataFrame({"lam": lams, "kl": [1.0, 0.2, 0.01, 0.0], "kl_low": [0.8, 0.15, 0.005, 0.0],
                       "kl_high": [1.2, 0.25, 0.02, 0.0], "kl_log_ratio": [1.1, 0.1, -0.05, 0.0],
                       "reward": [0.45, 0.42, 0.4, 0.39], "reward_low": [0.4, 0.37, 0.35, 0.34],
                       "reward_high": [0.5, 0.47, 0.45, 0.44]})  # fmt: skip
    exact = pd.DataFrame(
        {"lam": [0.01, 0.1, 1.0], "kl": [1.5, 0.5, 0.01], "reward": [0.6, 0.5, 0.4]}
    )
    return plots.plot_generative_sweep(df, title="sweep", exact=exact)


def _bank_dashboard(p):
    rng = np.random.default_rng(0)
    return widgets.BankWeightsDashboard(np.repeat(np.arange(5), 4), rng.normal(0.4, 0.3, 20),
                                        noise_floor=0.3, interactive=False).fig  # fmt: skip


def _comparison(p):
    summary = pd.DataFrame({"task": ["kindness"] * 3, "method": plots.METHOD_ORDER,
                            "mean": [0.3, 0.5, 0.6], "ci_low": [0.2, 0.4, 0.5],
                            "ci_high": [0.4, 0.6, 0.7], "variance": [0.1, 0.1, 0.1]})  # fmt: skip
    return plots.plot_comparison(summary, title="comparison")


def _lam_dashboard(p):
    return widgets.LamDashboard(p, prompt=widgets.ALL, interactive=False).fig


def _bound_dashboard(p):
    return widgets.BoundDashboard(p, interactive=False).fig


FIGURES = {
    "plot_prompter_bars": _prompter_bars,
    "sweep_figure": _sweep_figure,
    "plot_bound": _bound,
    "plot_policies": _policies,
    "plot_rho_vs_lam": _rho_vs_lam,
    "plot_frontier": _frontier,
    "plot_reachable_simplex": _simplex,
    "plot_learning_curve": _learning_curve,
    "plot_lam_sweep": _lam_sweep,
    "plot_training": _training,
    "plot_overoptimisation": _overoptimisation,
    "plot_fit_curves": _fit_curves,
    "plot_comparison": _comparison,
    "plot_fit_curves (NCA)": _nca_curves,
    "plot_generative_sweep": _generative_sweep,
    "bank_dashboard": _bank_dashboard,
    "lam_dashboard (all prompts)": _lam_dashboard,
    "bound_dashboard": _bound_dashboard,
}


@pytest.mark.parametrize("name", list(FIGURES))
def test_talk_style_reaches_every_text(style, problem, name):
    style("talk")
    fig = FIGURES[name](problem)
    texts = _texts(fig)
    assert any(t.get_text() for t in texts)
    small = [(t.get_text()[:30], t.get_fontsize()) for t in texts if t.get_fontsize() < 12]
    assert not small, f"{name}: texts under 12 pt in the talk style: {small[:8]}"


def test_notebook_style_keeps_todays_sizes(style, problem):
    style("notebook")
    fig = _prompter_bars(problem)
    ax = fig.axes[0]
    fig.canvas.draw()
    assert {t.get_fontsize() for t in ax.get_xticklabels()} == {7.5}
    assert ax.title.get_fontsize() == 10
    assert {t.get_fontsize() for t in ax.get_legend().get_texts()} == {8}
    notes = [t for t in ax.texts if "never chosen" in t.get_text()]
    assert notes and {t.get_fontsize() for t in notes} == {7.5}
    assert ax.yaxis.label.get_fontsize() == 10


def test_fs_follows_the_style(style):
    style("notebook")
    assert plots.fs(7.5) == 7.5 and plots.fs(14) == 14
    style("talk")
    assert plots.fs(7.5) == 12 and plots.fs(14) == 14
    apl.setup(style="notebook")  # the notebooks' setup cell resets it too
    assert plots.fs(6) == 6


# --------------------------------------------------------------------------- what they draw
def test_plot_frontier_draws_the_tangent_of_slope_lam(style, problem):
    fig, ax = plt.subplots()
    frontiers = _frontiers(problem)
    plots.plot_frontier(ax, frontiers, lam_tangent=0.1)
    (tangent,) = [ln for ln in ax.get_lines() if ln.get_label().startswith("slope λ")]
    lams = frontiers["Align-Pro"]["lam"].to_numpy()
    lam0 = lams[np.argmin(np.abs(np.log(lams) - np.log(0.1)))]
    (x0, x1), (y0, y1) = tangent.get_data()
    assert (y1 - y0) / (x1 - x0) == pytest.approx(lam0)
    assert tangent.get_label() == f"slope λ = {lam0:.3g}"
    labels = {ln.get_label() for ln in ax.get_lines()}
    assert {"Align-Pro", "RLHF", "best-of-n"} <= labels
    assert {"n=1", "n=2", "n=4", "n=16"} <= {t.get_text() for t in ax.texts}
    assert "prompts for Align-Pro" in ax.get_xlabel() and ax.get_ylabel() == "expected reward"
    with pytest.raises(ValueError, match="Align-Pro"):
        plots.plot_frontier(ax, {"RLHF": frontiers["RLHF"]}, lam_tangent=0.1)
    with pytest.raises(ValueError, match="empty"):
        plots.plot_frontier(ax, {})


def test_plot_reachable_simplex_draws_the_hull_and_both_paths(style):
    prob = rc.three_response_problem()
    fig, ax = plt.subplots()
    plots.plot_reachable_simplex(ax, prob)
    (hull,) = ax.patches  # the shaded hull: c0 lies inside, so a triangle of c1, c2, c3
    corners = plots._ternary(prob.pi_F[0, 1:])
    got = hull.get_xy()[:-1]  # closed polygon: the first point is repeated
    assert len(got) == 3
    assert all(np.abs(got - c).sum(axis=1).min() < 1e-9 for c in corners)
    lines = {ln.get_label(): ln for ln in ax.get_lines()}
    rlhf = np.column_stack(lines["RLHF π*β (β: ∞ → 0)"].get_data())
    align = np.column_stack(lines["Align-Pro π_ρ*λ (λ: ∞ → 0)"].get_data())
    np.testing.assert_allclose(rlhf[-1], plots._ternary(np.array([0.0, 1.0, 0.0])), atol=1e-6)
    np.testing.assert_allclose(align[-1], corners[0], atol=1e-6)  # ends at c1, the best rewrite
    path = hull.get_path().transformed(hull.get_patch_transform())
    assert path.contains_points(align[1:-5], radius=1e-9).all()  # inside the hull
    assert not path.contains_point(rlhf[-1])
    corner_names = {t.get_text().split("\n")[0] for t in ax.texts}
    assert {"refuses", "helpful", "harmful"} <= corner_names
    assert ax.get_aspect() == 1.0 and not ax.get_xticks().size


def test_plot_reachable_simplex_needs_three_responses(style, problem):
    fig, ax = plt.subplots()
    with pytest.raises(ValueError, match="n_y = 4"):
        plots.plot_reachable_simplex(ax, problem)
    table = apl.DiscreteProblem(rho_sft=problem.rho_sft, P=problem.P, R_table=problem.R)
    with pytest.raises(ValueError, match="tabular"):
        plots.plot_reachable_simplex(ax, table)
    with pytest.raises(ValueError, match="prompt index"):
        plots.plot_reachable_simplex(ax, rc.three_response_problem(), x=1)


def test_the_readme_figures_script_writes_both_figures(tmp_path):
    """scripts/figures.py (make figures) draws notebook 02's frontier and hull for the README."""
    import importlib.util

    from alignpro_lite.config import repo_root

    spec = importlib.util.spec_from_file_location("figures", repo_root() / "scripts" / "figures.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.main(["--out", str(tmp_path)]) == 0
    for name in ("frontier.png", "reachable.png"):
        assert (tmp_path / name).stat().st_size > 10_000


def test_plot_paired_draws_with_mixed_significance():
    """The forest plot is drawn, not only built: a list of colours as ``ecolor`` with caps raised
    only when the figure was rendered (after the notebook cell had 'passed')."""
    import io

    import matplotlib.pyplot as plt
    import pandas as pd

    from alignpro_lite.ui import plots

    p = pd.DataFrame({"task": ["k", "k"], "a": ["A", "B"], "b": ["N", "N"], "measure": "reward",
                      "diff": [0.1, 0.0], "ci_boot_low": [0.05, -0.1], "ci_boot_high": [0.15, 0.1],
                      "significant": [True, False]})  # fmt: skip
    fig = plots.plot_paired(p)
    fig.savefig(io.BytesIO(), format="png")
    plt.close(fig)
