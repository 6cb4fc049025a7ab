"""Every figure of the course, as pure matplotlib functions (no widget state), in one style:
the dashboards, the CLI, the reports and the notebooks draw through these, and tests call them
without a browser. :func:`set_style` is the one look (fonts, grids, colours in ``COLORS``).

Units: rewards are in the reward's own units (the teaching instance uses ``r ∈ [0, 1]``),
KL is in nats, λ is in reward units per nat.
"""

from __future__ import annotations

import math
import textwrap

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from alignpro_lite.exact.discrete import induced_policy, optimal_prompter, rlhf_optimal_policy
from alignpro_lite.exact.reachable import reachable_vertices

COLORS = {
    "rho_sft": "#9e9e9e",
    "rho_star": "#1f77b4",
    "reward": "#2ca02c",
    "noise": "#ff7f0e",
    "choice": "#9467bd",
    "kl": "#d62728",
    "objective": "#17becf",
    "NoFT": "#9e9e9e",
    "Align-Pro": "#1f77b4",
    "RLHF": "#d62728",
    "best-of-n": "#8c564b",
}


STYLES = {"notebook": 10, "talk": 13}  # base font size (pt); "talk": readable on a projector
MIN_FONT = {"notebook": 0.0, "talk": 12.0}  # smallest explicit font size (pt) per style
FIGURE_SCALE = {"notebook": 1.0, "talk": 1.3}  # dashboards grow with their fonts (no overlap)
_style = {"min_font": 0.0, "scale": 1.0}  # set by set_style


def fs(pt: float) -> float:
    """An explicit font size through the current style: ``max(pt, the style's minimum)``.

    Every ``fontsize=`` in :mod:`alignpro_lite.ui` goes through this, so ``set_style("talk")``
    lifts small labels to 12 pt while ``"notebook"`` keeps the sizes as written.
    """
    return max(float(pt), _style["min_font"])


def figure_scale() -> float:
    """How much the fixed-size dashboard figures grow under the current style (1.3 for talk)."""
    return _style["scale"]


def set_style(style: str = "notebook") -> None:
    """Readable defaults: labelled grids, larger fonts, tight layout, no clipping.

    ``style="talk"`` sets every font to at least 12 pt (13 pt base, and :func:`fs` lifts the
    explicit small sizes inside the plot functions to 12 pt) for a projector.
    """
    if style not in STYLES:
        raise ValueError(f"style must be one of {sorted(STYLES)}, got {style!r}.")
    base = STYLES[style]
    _style["min_font"] = MIN_FONT[style]
    _style["scale"] = FIGURE_SCALE[style]
    mpl.rcParams.update(
        {
            "figure.dpi": 100,
            "savefig.dpi": 120,
            "savefig.bbox": "tight",
            "font.size": base,
            "axes.titlesize": base + 1,
            "axes.labelsize": base,
            "xtick.labelsize": "medium",
            "ytick.labelsize": "medium",
            "legend.fontsize": "medium",
            "axes.grid": True,
            "grid.alpha": 0.3,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "legend.frameon": False,
            "figure.constrained_layout.use": True,
        }
    )


METHOD_ORDER = ["NoFT", "Align-Pro", "RLHF"]  # the paper's three methods, in its order
LAM_LABEL = "λ (KL weight, reward units per nat; log scale)"
LAM_LABEL_SHORT = "λ (reward units / nat, log)"  # the talk style: three panels side by side


def lam_label() -> str:
    """The λ axis label; shorter under the talk style so side-by-side panels do not collide."""
    return LAM_LABEL if _style["min_font"] == 0 else LAM_LABEL_SHORT


def short(text: str, width: int = 38) -> str:
    """One-line label for a prompt or rewrite."""
    return textwrap.shorten(" ".join(str(text).split()), width=width, placeholder="…")


def candidate_labels(candidates: list[str], width: int = 22) -> list[str]:
    """``c0 (original)``, ``c1: Give calm…`` labels for a candidate axis."""
    out = []
    for j, c in enumerate(candidates):
        out.append("c0 (original)" if j == 0 else f"c{j}: {short(c, width)}")
    return out


def plot_prompter_bars(ax, rho_sft_x, rho_x, labels, R_x=None, title=""):
    """Bars of ``rho_sft(.|x)`` (grey) and ``rho*(.|x)`` (blue) for one prompt.

    Returns the blue bar container so a dashboard can update its heights.
    """
    n_c = len(rho_sft_x)
    pos = np.arange(n_c)
    ax.bar(pos - 0.2, rho_sft_x, width=0.4, color=COLORS["rho_sft"], label="rho_sft (reference)")
    bars = ax.bar(pos + 0.2, rho_x, width=0.4, color=COLORS["rho_star"], label="rho* (optimal)")
    ticks = list(labels)
    if R_x is not None:
        ticks = [f"{lab}\nR={v:.2f}" for lab, v in zip(labels, R_x)]
    ax.set_xticks(pos, ticks, rotation=25, ha="right", fontsize=fs(7.5))
    for j in np.flatnonzero(np.asarray(rho_sft_x) == 0):
        ax.text(
            j,
            0.04,
            "ρ_sft = 0:\nnever chosen",
            ha="center",
            va="bottom",
            fontsize=fs(7.5),
            color="0.35",
            style="italic",
        )
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("probability of rewrite x'")
    ax.set_title(title or "Prompter over candidate rewrites", fontsize=fs(10))
    ax.legend(loc="upper right", fontsize=fs(8))
    return bars


def plot_sweep_curves(axes, lam, curves: dict, lam_now: float | None = None, r_ref=None):
    """Curves against λ on three axes: reward/objective, variance split, KL.

    Args:
        axes: three matplotlib axes.
        lam: ``(L,)`` grid.
        curves: arrays ``(L,)`` named ``reward``, ``objective``, ``noise``, ``choice``,
            ``variance`` (``between`` optional), ``kl``.
        lam_now: draws a marker line at the current λ.
        r_ref: optional dict of horizontal reference lines for the reward panel.

    Returns:
        the list of marker lines (``axvline``), for a dashboard to move.
    """
    ax_r, ax_v, ax_kl = axes
    ax_r.plot(lam, curves["reward"], color=COLORS["reward"], lw=2, label="mean reward E[R]")
    ax_r.plot(
        lam,
        curves["objective"],
        color=COLORS["objective"],
        lw=2,
        ls="--",
        label="objective E[R] − λ·KL (= λ log Z)",
    )
    for name, (value, style) in (r_ref or {}).items():
        ax_r.axhline(value, color="0.4", lw=1, ls=style, label=name)
    ax_r.set_ylabel("reward (reward units)")
    ax_r.set_title("Reward and objective", fontsize=fs(10))

    ax_v.plot(lam, curves["variance"], color="k", lw=2, label="total variance")
    ax_v.plot(
        lam, curves["noise"], color=COLORS["noise"], lw=1.5, label="response noise E[Var_y r]"
    )
    ax_v.plot(
        lam, curves["choice"], color=COLORS["choice"], lw=1.5, label="prompt choice Var_x'[R]"
    )
    if "between" in curves:
        ax_v.plot(lam, curves["between"], color="0.5", lw=1, ls=":", label="between prompts")
    ax_v.set_ylabel("variance (reward units²)")
    ax_v.set_title("Reward variance, split", fontsize=fs(10))

    ax_kl.plot(lam, curves["kl"], color=COLORS["kl"], lw=2, label="KL(rho* ‖ rho_sft)")
    ax_kl.set_ylabel("KL (nats)")
    ax_kl.set_title("Distance from the reference prompter", fontsize=fs(10))

    markers = []
    for ax, loc in zip(axes, ("lower left", "upper left", "upper right")):
        ax.set_xscale("log")
        ax.set_xlabel(lam_label(), fontsize=fs(8))
        ax.legend(fontsize=fs(7.5), loc=loc)
        if lam_now is not None:
            markers.append(ax.axvline(lam_now, color="k", lw=1, alpha=0.6))
    return markers


def sweep_figure(sweep: dict, title: str = "", per_prompt: int | None = None):
    """A static three-panel figure of a λ sweep (``sweep_metrics`` output); CLI and README.

    ``per_prompt=None`` plots the ``P``-averaged curves, an index plots that prompt's.
    """
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    if per_prompt is None:
        curves = {k: sweep["mean_" + k] for k in ("reward", "objective", "noise", "choice", "kl")}
        curves["variance"] = sweep["mean_variance"]
        curves["between"] = sweep["mean_between"]
    else:
        curves = {
            k: sweep[k][:, per_prompt] for k in ("reward", "objective", "noise", "choice", "kl")
        }
        curves["variance"] = sweep["variance"][:, per_prompt]
    plot_sweep_curves(axes, sweep["lam"], curves)
    if title:
        fig.suptitle(title, fontsize=fs(11))
    return fig


def plot_bound(ax, lam, terms, lam_now: float | None = None):
    """The sub-optimality bound against λ: the gap, the TV term, the KL term and the bound.

    ``terms`` is a :class:`alignpro_lite.exact.discrete.BoundTerms` over a λ grid.
    """
    ax.plot(lam, terms.gap, color="k", lw=2, label="gap J(π*) − J(π_ρ*)")
    ax.plot(lam, terms.bound, color=COLORS["kl"], lw=2, ls="--", label="bound = TV term − KL term")
    ax.plot(
        lam, terms.tv_term, color=COLORS["choice"], lw=1.2, label="(r_max−r_min)·E TV(π*, π_ρsft)"
    )
    ax.plot(lam, terms.kl_term, color=COLORS["noise"], lw=1.2, label="λ·E KL(ρ* ‖ ρ_sft)")
    ax.fill_between(lam, terms.gap, terms.bound, color=COLORS["kl"], alpha=0.08, label="slack")
    ax.set_xscale("log")
    ax.set_xlabel(lam_label(), fontsize=fs(8))
    ax.set_ylabel("reward units")
    ax.set_title("Sub-optimality of Align-Pro vs the RLHF optimum", fontsize=fs(10))
    ax.legend(fontsize=fs(7.5), loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return ax.axvline(lam_now, color="k", lw=1, alpha=0.6) if lam_now is not None else None


def plot_policies(ax, responses, pi_ref_x, pi_rho_x, pi_star_x, r_x=None, title=""):
    """Bars of three response distributions for one prompt: the frozen model on the
    original prompt, the Align-Pro policy ``pi_rho*`` and the RLHF optimum ``pi*``.

    Returns the (Align-Pro, RLHF) bar containers for updates.
    """
    n_y = len(pi_ref_x)
    pos = np.arange(n_y)
    ax.bar(pos - 0.27, pi_ref_x, 0.27, color=COLORS["NoFT"], label="π_F (original prompt)")
    b_rho = ax.bar(pos, pi_rho_x, 0.27, color=COLORS["Align-Pro"], label="π_ρ* (Align-Pro)")
    b_star = ax.bar(pos + 0.27, pi_star_x, 0.27, color=COLORS["RLHF"], label="π* (RLHF optimum)")
    labels = [short(y, 24) for y in responses]
    if r_x is not None:
        labels = [f"{lab}\nr={v:.2f}" for lab, v in zip(labels, r_x)]
    ax.set_xticks(pos, labels, rotation=25, ha="right", fontsize=fs(7.5))
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("probability of response y")
    ax.set_title(title or "Response distributions", fontsize=fs(10))
    ax.legend(fontsize=fs(7), loc="upper right")
    return b_rho, b_star


def plot_rho_vs_lam(problem, sweep: dict, max_prompts: int = 6):
    """Stacked ``rho*(x'|x)`` against λ for the first prompts: which rewrite wins where."""
    k = min(problem.n_x, max_prompts)
    cols = min(k, 3)
    rows = (k + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 3.3 * rows), squeeze=False)
    for i in range(rows * cols):
        ax = axes.flat[i]
        if i >= k:
            ax.set_axis_off()
            continue
        labels = [f"c{j}" + (" (original)" if j == 0 else "") for j in range(problem.n_c)]
        ax.stackplot(sweep["lam"], sweep["rho"][:, i, :].T, labels=labels, alpha=0.85)
        ax.set_xscale("log")
        ax.set_ylim(0, 1)
        ax.set_xlabel(lam_label(), fontsize=fs(7))
        ax.set_ylabel("rho*(x'|x)")
        title = problem.prompts[i] if problem.prompts else f"prompt {i}"
        ax.set_title(f"x{i}: {short(title, 45)}", fontsize=fs(9))
        if i == 0:
            ax.legend(fontsize=fs(6), loc="center left")
    fig.suptitle("Which rewrite wins as λ moves (small λ: the best; large λ: rho_sft)")
    return fig


# --------------------------------------------------------------------------- frontier, simplex
KL_FRONTIER_LABEL = "KL (nats; prompts for Align-Pro, responses for RLHF / best-of-n)"


def plot_frontier(
    ax,
    frontiers: dict,
    lam_tangent: float | None = None,
    annotate_n=(1, 2, 4, 16),
    response_kl: bool = True,
    title: str = "",
):
    """Reward (y) against KL in nats (x) for each method's frontier.

    ``frontiers`` maps a label to a DataFrame with columns ``kl`` and ``reward``:
    :func:`~alignpro_lite.exact.frontier.alignpro_frontier` (``lam``),
    :func:`~alignpro_lite.exact.frontier.rlhf_frontier` (``beta``) or
    :func:`~alignpro_lite.exact.frontier.best_of_n_frontier` (``n``: drawn with a marker per
    ``n``, the values in ``annotate_n`` labelled). Labels ``"Align-Pro"``, ``"RLHF"`` and
    ``"best-of-n"`` get the course colours. Align-Pro's KL is over prompts, the others' over
    responses; with ``response_kl`` a frame's ``kl_response`` column (Align-Pro's induced
    policy against ``pi_ref``) is drawn dashed, in response space.

    ``lam_tangent``: draws the tangent of slope λ at the Align-Pro point whose λ is nearest
    (in log λ) to it, labelled ``slope λ = …`` with that grid λ (the frontier's slope is λ).
    Returns ``ax``.
    """
    if not frontiers:
        raise ValueError("frontiers is empty: give at least one {label: DataFrame}.")
    kl_max = 0.0
    for i, (label, df) in enumerate(frontiers.items()):
        for col in ("kl", "reward"):
            if col not in df:
                raise ValueError(f"frontier {label!r} has no column {col!r}: got {list(df)}.")
        color = COLORS.get(label, f"C{i}")
        kl = np.asarray(df["kl"], dtype=float)
        finite = np.isfinite(kl)
        kl_max = max(kl_max, float(kl[finite].max()) if finite.any() else 0.0)
        if "n" in df:
            ax.plot(kl, df["reward"], "o-", color=color, ms=4, lw=1.2, label=label)
            for n, xk, yk in zip(df["n"], kl, df["reward"], strict=True):
                if int(n) in set(annotate_n):
                    ax.annotate(f"n={int(n)}", (xk, yk), xytext=(4, -10),
                                textcoords="offset points", fontsize=fs(8), color=color)  # fmt: skip
        else:
            ax.plot(kl, df["reward"], color=color, lw=2, label=label)
        if response_kl and "kl_response" in df:
            ax.plot(df["kl_response"], df["reward"], color=color, lw=1.2, ls="--",
                    label=f"{label}: KL(π_ρ* ‖ π_ref), responses")  # fmt: skip
    if lam_tangent is not None:
        df = frontiers.get("Align-Pro")
        if df is None:
            df = next((d for d in frontiers.values() if "lam" in d), None)
        if df is None:
            raise ValueError("lam_tangent needs an Align-Pro frontier (a frame with column 'lam').")
        lams = np.asarray(df["lam"], dtype=float)
        k = int(np.argmin(np.abs(np.log(lams) - np.log(float(lam_tangent)))))
        lam0, kl0, r0 = lams[k], float(df["kl"].iloc[k]), float(df["reward"].iloc[k])
        half = 0.25 * max(kl_max, 1e-12)
        xs = np.array([max(0.0, kl0 - half), kl0 + half])
        ax.plot(xs, r0 + lam0 * (xs - kl0), color="k", lw=1, ls=":", label=f"slope λ = {lam0:.3g}")
        ax.plot([kl0], [r0], "o", color=COLORS["Align-Pro"], mfc="white", ms=7)
    ax.set_xlabel(KL_FRONTIER_LABEL)
    ax.set_ylabel("expected reward")
    ax.set_title(title or "Reward bought per nat of KL", fontsize=fs(10))
    ax.legend(fontsize=fs(8), loc="lower right")
    return ax


def _ternary(p: np.ndarray) -> np.ndarray:
    """Barycentric ``(..., 3)`` to the plane: response 0 at (0, 0), 1 at (1, 0), 2 at the top."""
    p = np.asarray(p, dtype=float)
    return np.stack([p[..., 1] + 0.5 * p[..., 2], p[..., 2] * math.sqrt(3) / 2], axis=-1)


def _hull_2d(points: np.ndarray) -> np.ndarray:
    """Convex hull of a few 2-D points, counter-clockwise (Andrew's monotone chain)."""
    pts = sorted({(round(float(a), 12), round(float(b), 12)) for a, b in points})
    if len(pts) <= 2:
        return np.array(pts)

    def cross(o, a, b):
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    lower, upper = [], []
    for p in pts:
        while len(lower) >= 2 and cross(lower[-2], lower[-1], p) <= 0:
            lower.pop()
        lower.append(p)
    for p in reversed(pts):
        while len(upper) >= 2 and cross(upper[-2], upper[-1], p) <= 0:
            upper.pop()
        upper.append(p)
    return np.array(lower[:-1] + upper[:-1])


def _arrow_head(ax, path: np.ndarray, color: str) -> None:
    """An arrow head at the end of a 2-D path, pointing along its last visible move."""
    far = np.flatnonzero(np.linalg.norm(path - path[-1], axis=1) > 0.02)
    if len(far):
        ax.annotate("", xy=path[-1], xytext=path[far[-1]],
                    arrowprops={"arrowstyle": "-|>", "color": color, "lw": 2})  # fmt: skip


def plot_reachable_simplex(ax, problem, x: int = 0, lams=None, betas=None, title: str = ""):
    """The response simplex of one prompt of a three-response problem (a ternary plot).

    Draws the triangle (corners labelled by the responses and their rewards), the shaded
    convex hull of the policies a prompter can reach (the rows ``pi_F(.|x')`` of the
    candidates in ``rho_sft``'s support, labelled ``c0``, ``c1``, …), Align-Pro's path
    ``pi_{rho*_λ}`` as λ goes from ∞ to 0 (it stays inside), RLHF's path ``pi*_β`` as β goes
    from ∞ to 0 (it may leave the hull), and ``pi_ref`` and ``pi_{rho_sft}``. ``lams`` and
    ``betas`` default to 200 log-spaced values in ``[1e-3, 1e3]``. Equal aspect, no ticks.
    Raises ``ValueError`` unless the problem is tabular with ``n_y = 3``. Returns ``ax``.
    """
    if not getattr(problem, "tabular", False):
        raise ValueError("plot_reachable_simplex needs a tabular problem (pi_F and r).")
    n_y = problem.pi_F.shape[2]
    if n_y != 3:
        raise ValueError(f"plot_reachable_simplex draws 3 responses (a triangle); got n_y = {n_y}.")
    if isinstance(x, bool) or int(x) != x or not 0 <= x < problem.n_x:
        raise ValueError(f"x must be a prompt index in [0, {problem.n_x}), got {x!r}.")
    x = int(x)
    lams = np.geomspace(1e-3, 1e3, 200) if lams is None else np.asarray(lams, dtype=float)
    betas = np.geomspace(1e-3, 1e3, 200) if betas is None else np.asarray(betas, dtype=float)
    lams = np.sort(lams)[::-1]  # λ from large to small
    betas = np.sort(betas)[::-1]

    corners = _ternary(np.eye(3))
    ax.plot(*np.vstack([corners, corners[:1]]).T, color="0.3", lw=1)
    names = problem.responses[x] if problem.responses else [f"y{k}" for k in range(3)]
    offsets = [(-6, -14), (6, -14), (0, 8)]
    aligns = ["right", "left", "center"]
    for k in range(3):
        ax.annotate(f"{short(names[k], 20)}\nr = {problem.r[x, k]:.2f}", corners[k],
                    xytext=offsets[k], textcoords="offset points", ha=aligns[k],
                    va="top" if k < 2 else "bottom", fontsize=fs(9))  # fmt: skip

    support = np.flatnonzero(problem.rho_sft[x] > 0)
    verts = _ternary(reachable_vertices(problem.pi_F, problem.rho_sft)[x])
    hull = _hull_2d(verts)
    if len(hull) >= 3:
        ax.fill(*hull.T, color=COLORS["Align-Pro"], alpha=0.15, lw=0,
                label="reachable by a prompter")  # fmt: skip
    ax.plot(*verts.T, "o", color=COLORS["Align-Pro"], ms=5, alpha=0.7)
    for j, v in zip(support, verts, strict=True):
        ax.annotate(f"c{j}", v, xytext=(4, 3), textcoords="offset points", fontsize=fs(8))

    rho = optimal_prompter(problem.rho_sft, problem.R, lams)  # (L, n_x, n_c)
    pi_rho = induced_policy(rho, problem.pi_F)[:, x]
    pi_sft = induced_policy(problem.rho_sft, problem.pi_F)[x]
    path = _ternary(np.vstack([pi_sft, pi_rho]))
    ax.plot(*path.T, color=COLORS["Align-Pro"], lw=2, label="Align-Pro π_ρ*λ (λ: ∞ → 0)")
    _arrow_head(ax, path, COLORS["Align-Pro"])

    pi_ref = problem.pi_ref[x]
    pi_star = rlhf_optimal_policy(problem.pi_ref, problem.r, betas)[:, x]
    path = _ternary(np.vstack([pi_ref, pi_star]))
    ax.plot(*path.T, color=COLORS["RLHF"], lw=2, label="RLHF π*β (β: ∞ → 0)")
    _arrow_head(ax, path, COLORS["RLHF"])

    ax.plot(*_ternary(pi_ref), "s", color="k", ms=6, label="π_ref (original prompt)")
    ax.plot(*_ternary(pi_sft), "D", color=COLORS["rho_sft"], mec="k", ms=6, label="π_ρsft")

    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.set_xlim(-0.15, 1.15)
    ax.set_ylim(
        -0.2, math.sqrt(3) / 2 + 0.12 + 0.015 * fs(9)
    )  # room for the top corner's two lines
    prompt = problem.prompts[x] if problem.prompts else f"prompt {x}"
    ax.set_title(title or f"x{x}: {short(prompt, 50)}", fontsize=fs(10))
    ax.legend(fontsize=fs(8), loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return ax


# --------------------------------------------------------------------------- notebook 08
def plot_comparison(summary: pd.DataFrame, title: str | None = None, methods=None):
    """The paper-shaped figure: bars per task and method, mean reward (95% CI) and variance.

    ``methods``: the methods to show, in order (default: the paper's three, then any baseline
    of the replication present in ``summary``: the SFT prompter and best-of-n)."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    if methods is None:
        methods = METHOD_ORDER + [m for m in ("SFT prompter (λ=∞)", "Best-of-n")
                                  if m in set(summary["method"])]  # fmt: skip
    s = summary[summary["method"].isin(methods)].copy()
    order = [m for m in methods if m in set(s["method"])]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    sns.barplot(
        data=s, x="task", y="mean", hue="method", hue_order=order, ax=axes[0], errorbar=None
    )
    for patch_group, m in zip(axes[0].containers, order, strict=False):
        sub = s[s["method"] == m].set_index("task")
        for bar, task in zip(
            patch_group, [t.get_text() for t in axes[0].get_xticklabels()], strict=False
        ):
            if task in sub.index:
                x = bar.get_x() + bar.get_width() / 2
                lo, hi = sub.loc[task, "ci_low"], sub.loc[task, "ci_high"]
                axes[0].errorbar(x, sub.loc[task, "mean"], yerr=[[sub.loc[task, "mean"] - lo], [hi - sub.loc[task, "mean"]]], color="k", capsize=3, lw=1)  # fmt: skip
    axes[0].set(title="mean reward (95% CI)", xlabel="", ylabel="reward r(x, y)")
    v = s[~s["method"].str.startswith("Best-of-n")]  # overlapping windows: no variance
    sns.barplot(data=v, x="task", y="variance", hue="method",
                hue_order=[m for m in order if not m.startswith("Best-of-n")], ax=axes[1],
                errorbar=None)  # fmt: skip
    axes[1].set(title="total reward variance (best-of-n: not a variance, left out)", xlabel="",
                ylabel="Var r")  # fmt: skip
    axes[1].get_legend().remove()
    axes[0].legend(title="", fontsize=fs(8))
    if title:
        fig.suptitle(title)
    return fig


def plot_lam_sweep(sweep: pd.DataFrame):
    """Mean reward (95% CI) and variance of the trained prompter against λ (λ = ∞: rho_sft)."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    for task, g in sweep.groupby("task"):
        labels = ["∞ (rho_sft)" if math.isinf(v) else f"{v:g}" for v in g["lam"]]
        axes[0].errorbar(labels, g["mean"], yerr=[g["mean"] - g["ci_low"], g["ci_high"] - g["mean"]], marker="o", capsize=3, label=task)  # fmt: skip
        axes[1].plot(labels, g["variance"], marker="o", label=task)
    axes[0].set(title="mean reward vs λ (95% CI)", xlabel="λ", ylabel="reward")
    axes[1].set(title="reward variance vs λ", xlabel="λ", ylabel="Var r")
    axes[0].legend(fontsize=fs(8))
    return fig


def plot_generative_sweep(sweep: pd.DataFrame, title: str = "", exact: pd.DataFrame | None = None):
    """The λ sweep of the generative prompter (``alignpro-lite lam-sweep``'s ``sweep.csv``).

    Left: per-token KL(rho_θ ‖ rho_sft) on the test prompts against λ (log-log, 95% CIs over
    prompts; the λ = ∞ refit, KL = 0, drawn at the right edge). Right: mean reward against that
    KL, with ``exact`` (columns ``kl``, ``reward``: e.g. the closed form over the candidate
    tables) as a line beside it when given.
    """
    import matplotlib.pyplot as plt

    s = sweep.sort_values("lam").reset_index(drop=True)
    fin = s[np.isfinite(s["lam"])]
    inf = s[~np.isfinite(s["lam"])]
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    ax = axes[0]
    floor = 1e-4
    y = fin["kl"].clip(lower=floor)
    ax.errorbar(fin["lam"], y, yerr=[y - fin["kl_low"].clip(lower=floor),
                fin["kl_high"].clip(lower=floor) - y], marker="o", capsize=3,
                label="per-token KL (95% CI)")  # fmt: skip
    if "kl_log_ratio" in fin:
        ax.plot(fin["lam"], fin["kl_log_ratio"].clip(lower=floor), ls=":", marker="x",
                color="0.4", label="single-sample log-ratio (noisy)")  # fmt: skip
    if not inf.empty:
        x_inf = fin["lam"].max() * 4 if not fin.empty else 1.0
        ax.plot([x_inf], [max(float(inf["kl"].iloc[0]), floor)], marker="s", color="C3", ls="",
                label=f"λ = ∞ refit: KL = {float(inf['kl'].iloc[0]):.2g}")  # fmt: skip
    ax.set(xscale="log", yscale="log", xlabel="λ (reward units per nat)",
           ylabel="KL(rho_θ ‖ rho_sft) (nats)", title="the fit follows λ")  # fmt: skip
    ax.legend(fontsize=fs(8))
    ax = axes[1]
    ax.errorbar(s["kl"], s["reward"], xerr=[s["kl"] - s["kl_low"], s["kl_high"] - s["kl"]],
                yerr=[s["reward"] - s["reward_low"], s["reward_high"] - s["reward"]], marker="o",
                capsize=3, ls="-", label="NCA refits (95% CIs)")  # fmt: skip
    for _, r in s.iterrows():
        lab = "λ=∞" if not np.isfinite(r["lam"]) else f"λ={r['lam']:.3g}"
        ax.annotate(lab, (r["kl"], r["reward"]), textcoords="offset points", xytext=(5, 5),
                    fontsize=fs(8))  # fmt: skip
    if exact is not None and not exact.empty:
        e = exact.sort_values("kl")
        ax.plot(
            e["kl"], e["reward"], color="k", lw=1, ls="--", label="exact rho*_λ (candidate tables)"
        )
    ax.set(xlabel="KL(rho_θ ‖ rho_sft) on the test prompts (nats)", ylabel="mean reward (reward units)",
           title="reward bought per nat")  # fmt: skip
    ax.legend(fontsize=fs(8))
    if title:
        fig.suptitle(title)
    return fig


def plot_training(metrics: dict[str, pd.DataFrame]):
    """Reward and KL curves of several runs (``{label: metrics DataFrame}``)."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.2))
    for label, m in metrics.items():
        col = "task_reward" if "task_reward" in m else "reward_mean"
        axes[0].plot(m["step"], m[col], marker=".", label=label)
        axes[1].plot(m["step"], m["kl"], marker=".", label=label)
    axes[0].set(title="task reward r(x, y) per step (batch mean)", xlabel="step", ylabel="reward")
    axes[1].set(
        title="KL(policy || reference) per step (sample estimate)",
        xlabel="step",
        ylabel="nats / sequence",
    )
    axes[0].legend(fontsize=fs(7))
    return fig


# --------------------------------------------------------------------------- notebooks 03, 06
def plot_learning_curve(curve: pd.DataFrame, title: str, axes=None):
    """A tabular prompter's training (:func:`alignpro_lite.learn.policies.learning_curve`):
    the batch estimate and the exact objective ``E R − λ KL`` against the closed-form optimum
    (left), and the distance ``E_x TV(rho_θ, rho*)`` to it on a log scale (right)."""
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    ax1, ax2 = axes
    ax1.plot(curve["step"], curve["objective"], alpha=0.3, label="batch estimate (sampled rewards)")
    ax1.plot(
        curve["step"],
        curve["objective_exact"],
        label=r"exact objective of the current $\rho_\theta$",
    )
    ax1.axhline(curve["objective_star"].iloc[0], color="k", ls="--", label=r"closed form $\rho^*$")
    ax1.set(xlabel="step", ylabel=r"$E R - \lambda KL$ (reward units)", title=title)
    ax1.legend(fontsize=fs(8))
    ax2.semilogy(curve["step"], curve["tv_to_optimum"])
    ax2.set(
        xlabel="step", ylabel=r"$E_x\,TV(\rho_\theta, \rho^*)$", title="distance to the closed form"
    )
    return axes


def plot_overoptimisation(curves: dict[str, pd.DataFrame], axes=None):
    """The proxy (learned) reward against KL, the gold reward against KL and the gold reward
    against λ (increasing to the right, as in every notebook) for each named curve (two
    ``axes``: the gold panels only).

    ``curves`` maps a label (e.g. ``"BT, 900 pairs"``) to a frame of
    :func:`overoptimisation_curve`. The dotted line is the ceiling ``gold_best`` of the first
    curve (optimising the gold reward itself).
    """
    import matplotlib.pyplot as plt

    if axes is None:
        _, axes = plt.subplots(1, 3, figsize=(15, 3.8))
    ax_proxy, ax_kl, ax_lam = axes if len(axes) == 3 else (None, *axes)
    for i, (label, df) in enumerate(curves.items()):
        color = f"C{i}"
        if ax_proxy is not None:
            ax_proxy.plot(df["kl"], df["proxy"], color=color, ls="--", label=f"{label}: proxy")
        ax_kl.plot(df["kl"], df["gold"], color=color, label=f"{label}: gold (VADER)")
        ax_lam.semilogx(df["lam"], df["gold"], color=color, label=label)
        k = int(df["gold"].to_numpy().argmax())
        ax_kl.plot(df["kl"].iloc[k], df["gold"].iloc[k], "o", color=color)
        ax_lam.plot(df["lam"].iloc[k], df["gold"].iloc[k], "o", color=color)
    first = next(iter(curves.values()))
    ax_kl.plot(first["kl"], first["gold_best"], ":", color="k", label="optimising gold itself")
    if ax_proxy is not None:
        ax_proxy.set(xlabel="KL(ρ* ‖ ρ_sft) (nats)", ylabel="proxy: mean learned score",
                     title="what the optimiser sees: the proxy")  # fmt: skip
        ax_proxy.legend(fontsize=fs(8))
    ax_kl.set(xlabel="KL(ρ* ‖ ρ_sft) (nats)", ylabel="gold reward E[R_gold] (VADER)",
              title="what the user gets: the gold reward")  # fmt: skip
    ax_lam.set(xlabel=lam_label(), ylabel="gold reward (VADER)", title="gold reward vs λ")
    ax_kl.legend(fontsize=fs(8))
    ax_lam.legend(fontsize=fs(8))
    return axes


def plot_headroom(table: pd.DataFrame, z: float = 2.0):
    """Headroom per task (``alignpro_lite.llm.headroom.headroom_table`` rows): each rewrite
    type's gain, Align-Pro's cross-fitted best case and RLHF's best-of-n room, with ``± z`` SE
    whiskers; a bar whose whisker stays right of 0 is headroom at ``z`` standard errors."""
    import matplotlib.pyplot as plt

    tasks = list(dict.fromkeys(table["task"]))
    fig, axes = plt.subplots(1, len(tasks), figsize=(4.4 * len(tasks), 0.32 * len(table) / len(tasks) + 1.6),
                             squeeze=False)  # fmt: skip
    for ax, task in zip(axes[0], tasks, strict=True):
        t = table[table["task"] == task].iloc[::-1]
        colour = ["#4c72b0" if w.startswith("type:") else "#dd8452" if m == "Align-Pro" else "#55a868"
                  for w, m in zip(t["what"], t["method"], strict=True)]  # fmt: skip
        ax.barh(range(len(t)), t["gain"], xerr=z * t["se"], color=colour, capsize=2)
        ax.set_yticks(range(len(t)), [w.removeprefix("type: ") for w in t["what"]])
        ax.axvline(0, color="k", lw=0.8)
        ax.set(title=task, xlabel="gain over the original prompt (reward units)")
    fig.suptitle(f"headroom on the TRAIN prompts (whiskers ± {z:g} SE; blue: rewrite types, "
                 "orange: rho*, green: best-of-n)")  # fmt: skip
    return fig


def plot_paired(paired: pd.DataFrame, measure: str = "reward"):
    """Forest plot of paired differences (``alignpro_lite.experiment.evaluate.paired_table``):
    one row per task and pair, the mean difference with its paired bootstrap 95% CI."""
    import matplotlib.pyplot as plt

    p = paired[paired["measure"] == measure].iloc[::-1]
    fig, ax = plt.subplots(figsize=(7.5, 0.38 * len(p) + 1.2))
    y = range(len(p))
    colour = ["#c44e52" if s else "#8c8c8c" for s in p["significant"]]
    for yk, (d, lo, hi, c) in enumerate(zip(p["diff"], p["ci_boot_low"], p["ci_boot_high"], colour,
                                            strict=True)):  # one colour per bar  # fmt: skip
        ax.errorbar([d], [yk], xerr=[[d - lo], [hi - d]], fmt="none", ecolor=c, capsize=3)
    ax.scatter(p["diff"], y, c=colour, zorder=3)
    ax.set_yticks(
        list(y), [f"{t}: {a} − {b}" for t, a, b in zip(p["task"], p["a"], p["b"], strict=True)]
    )
    ax.axvline(0, color="k", lw=0.8)
    ax.set(xlabel=f"paired difference of the mean {measure} (whiskers: 95% bootstrap CI; red: "
                  "both paired CIs, t and bootstrap, exclude 0)")  # fmt: skip
    return fig


def plot_fit_curves(curves: pd.DataFrame):
    """Learning curves of route (b) fits. NCA fits (a ``kl_tok`` column): the batch NCA loss and
    the monitor's per-token KL to the reference against the SGD step. Round 1's weighted-MLE
    fits: the importance-sampling estimates, on the bank, of the fitted policy's mean reward and
    of its KL to the reference, against the Adam step."""
    import matplotlib.pyplot as plt

    if "kl_tok" in curves:
        return _plot_nca_curves(curves)
    c = curves.dropna(subset=["reward_is"])
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for (method, task, weight), g in c.groupby(["method", "task", "weight"], sort=False):
        sym = "λ" if method == "align-pro" else "β"
        color = COLORS["Align-Pro"] if method == "align-pro" else COLORS["RLHF"]
        ls = {"kindness": "-", "harmlessness": "--", "helpfulness": ":"}.get(task, "-.")
        label = f"{'Align-Pro' if method == 'align-pro' else 'RLHF'} {task} {sym}={weight:.3g}"
        axes[0].plot(g["step"], g["reward_is"], marker="o", color=color, ls=ls, label=label)
        axes[1].plot(g["step"], g["kl_is"], marker="o", color=color, ls=ls, label=label)
    axes[0].set(xlabel="fit step (Adam)", ylabel="estimated mean reward R̂ (reward units)",
                title="reward of the fitted policy (IS on the bank)")  # fmt: skip
    axes[1].set(xlabel="fit step (Adam)", ylabel="estimated KL to the reference (nats)",
                title="KL of the fitted policy (IS on the bank)")  # fmt: skip
    axes[1].legend(fontsize=fs(8), loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return fig


def _plot_nca_curves(curves: pd.DataFrame):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    keys = [k for k in ("method", "task", "weight") if k in curves]
    weights = sorted(curves["weight"].unique()) if "weight" in curves else []
    shade = {
        w: plt.get_cmap("viridis")(i / max(1, len(weights) - 1)) for i, w in enumerate(weights)
    }
    one_kind = curves.get("method", pd.Series(["align-pro"])).nunique() == 1
    for key, g in curves.groupby(keys, sort=False):
        key = key if isinstance(key, tuple) else (key,)
        d = dict(zip(keys, key, strict=True))
        rlhf = d.get("method") == "rlhf"
        color = COLORS["RLHF"] if rlhf else COLORS["Align-Pro"]
        if one_kind and len(weights) > 1:  # a λ sweep: one colour per λ, small to large
            color = shade[d["weight"]]
        ls = {"kindness": "-", "harmlessness": "--", "helpfulness": ":"}.get(d.get("task"), "-.")
        w = d.get("weight", float("nan"))
        label = (
            f"{'RLHF' if rlhf else 'Align-Pro'} {d.get('task', '')} {'β' if rlhf else 'λ'}={w:.3g}"
        )
        b = g.dropna(subset=["loss"])
        axes[0].plot(b["step"], b["loss"], color=color, ls=ls, alpha=0.8, label=label)
        m = g.dropna(subset=["kl_tok"])
        axes[1].plot(m["step"], m["kl_tok"], marker="o", color=color, ls=ls, label=label)
    axes[0].set(xlabel="fit step (momentum SGD)", ylabel="NCA loss of the step's prompts",
                title="NCA loss (2 log 2 ≈ 1.39 at the reference)")  # fmt: skip
    axes[0].axhline(2 * math.log(2), color="k", lw=0.8, ls=":")
    axes[1].set(xlabel="fit step (momentum SGD)", ylabel="per-token KL to the reference (nats)",
                title="KL of the fitted policy (own samples, train prompts)")  # fmt: skip
    axes[1].legend(fontsize=fs(8), loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return fig


# --------------------------------------------------------------------------- round 2
ROUND2_PAIRS = (
    ("Align-Pro", "NoFT"),
    ("RLHF", "NoFT"),
    ("SFT prompter (λ=∞)", "NoFT"),
    ("Best-of-n", "NoFT"),
    ("Align-Pro", "SFT prompter (λ=∞)"),
    ("RLHF", "Align-Pro"),
    ("Align-Pro", "closed-form rho* (candidates)"),
)


def plot_round_forest(pooled: pd.DataFrame, per_seed: pd.DataFrame | None = None,
                      predicted: dict | None = None, pairs=ROUND2_PAIRS):  # fmt: skip
    """Forest plot of a pooled round (``alignpro-lite pool``'s ``pooled.csv``): per task and
    pair, the pooled mean difference with its 95% CI, prompts and seeds random (thick; red when
    it excludes 0), the interval conditional on the fits (thin, beside it), each seed's mean
    (small dots, from ``per_seed``) and, where ``predicted[(task, a)]`` is given (the
    preregistered prediction of ``a − NoFT``), a diamond. Reward units."""
    import matplotlib.pyplot as plt

    p = pooled[pooled["estimator"] == "crossed"]
    order = {pr: k for k, pr in enumerate(pairs)}
    p = p[[(a, b) in order for a, b in zip(p["a"], p["b"], strict=True)]]
    p = p.assign(_k=[order[(a, b)] for a, b in zip(p["a"], p["b"], strict=True)])
    p = p.sort_values(["task", "_k"], kind="stable").iloc[::-1].reset_index(drop=True)
    cond = pooled[pooled["estimator"] == "conditional"].set_index(["task", "a", "b"])
    fig, ax = plt.subplots(figsize=(11, 0.34 * len(p) + 2.2))
    for y, r in p.iterrows():
        colour = "#c44e52" if r["significant"] else "#555555"
        ax.plot([r["ci_low"], r["ci_high"]], [y, y], color=colour, lw=3, solid_capstyle="butt")
        ax.plot([r["mean"]], [y], "o", color=colour, ms=6, zorder=3)
        key = (r["task"], r["a"], r["b"])
        if key in cond.index:
            c = cond.loc[key]
            ax.plot([c["ci_low"], c["ci_high"]], [y - 0.28, y - 0.28], color=colour, lw=1)
        if per_seed is not None:
            s = per_seed[(per_seed["task"] == r["task"]) & (per_seed["a"] == r["a"])
                         & (per_seed["b"] == r["b"])]  # fmt: skip
            ax.plot(s["mean"], [y + 0.25] * len(s), ".", color="0.35", ms=5)
        if predicted and r["b"] == "NoFT" and (r["task"], r["a"]) in predicted:
            ax.plot([predicted[(r["task"], r["a"])]], [y], "D", mfc="none", color="k", ms=7)
    ax.set_yticks(range(len(p)), [f"{t}: {a} − {b}" for t, a, b in zip(p["task"], p["a"], p["b"], strict=True)])  # fmt: skip
    ax.axvline(0, color="k", lw=0.8)
    handles = [
        mpl.lines.Line2D([], [], color="#c44e52", lw=3, label="pooled 95% CI, prompts & seeds random (excludes 0)"),
        mpl.lines.Line2D([], [], color="#555555", lw=3, label="pooled 95% CI (includes 0)"),
        mpl.lines.Line2D([], [], color="#555555", lw=1, label="CI conditional on the fitted models"),
        mpl.lines.Line2D([], [], color="0.35", marker=".", ls="", label="each seed's mean"),
    ]  # fmt: skip
    if predicted:
        handles.append(mpl.lines.Line2D([], [], color="k", marker="D", mfc="none", ls="",
                                        label="preregistered prediction"))  # fmt: skip
    ax.legend(handles=handles, fontsize=fs(8), loc="upper center", bbox_to_anchor=(0.4, -0.06 - 2.0 / len(p)),
              ncol=2)  # fmt: skip
    ax.set(xlabel="paired difference of the mean test reward (reward units)")
    return fig


def plot_round_frontier(frontier: pd.DataFrame, exact: dict | None = None,
                        candidates: pd.DataFrame | None = None, title: str = ""):  # fmt: skip
    """The reward–KL frontier at scale beside the exact one.

    Left (when ``exact`` is given): :func:`plot_frontier` of notebook 02's exact frontiers
    (``{label: DataFrame}``). Right: ``frontier`` (``alignpro_lite.experiment.pooled.
    frontier_table``): each method's points as (mean per-token KL in its own space, mean test
    reward) with 95% CIs over prompts, joined in order of KL and labelled by λ, β or n (the KL
    is ``llm.kl``'s per-token terms summed over the sequence: nats per rewrite or answer);
    best-of-n's KL is the formula's upper bound (hollow markers). ``candidates`` (columns
    ``kl``, ``reward``: the closed-form ``rho*_λ`` over notebook 05's candidate rewrites) is drawn
    dashed. KL in nats, reward in its own units."""
    import matplotlib.pyplot as plt

    n = 2 if exact else 1
    fig, axes = plt.subplots(1, n, figsize=(6.4 * n, 5.6), squeeze=False)
    axes = axes[0]
    if exact:
        plot_frontier(axes[0], exact, title="notebook 02: the exact frontier (teaching instance)")
    ax = axes[-1]
    colours = {
        "Align-Pro": COLORS["Align-Pro"],
        "RLHF": COLORS["RLHF"],
        "Best-of-n": COLORS["best-of-n"],
    }
    sym = {"Align-Pro": "λ", "RLHF": "β", "Best-of-n": "n"}
    for method, g in frontier.groupby("method", sort=False):
        g = g[np.isfinite(g["kl"])].sort_values("kl")
        c = colours.get(method, "0.3")
        hollow = method == "Best-of-n"
        xerr = None
        if g["kl_low"].notna().all():
            xerr = [g["kl"] - g["kl_low"], g["kl_high"] - g["kl"]]
        ax.errorbar(g["kl"], g["reward"], xerr=xerr,
                    yerr=[g["reward"] - g["reward_low"], g["reward_high"] - g["reward"]],
                    color=c, marker="o", mfc="white" if hollow else c, capsize=2, lw=1.3,
                    label=f"{method} ({'KL upper bound' if hollow else 'per-token KL, own space'})")  # fmt: skip
        for r in g.itertuples():
            w = f"{r.weight:g}" if method == "Best-of-n" else f"{r.weight:.3g}"
            w = "∞" if not np.isfinite(r.weight) else w
            dy = {"Align-Pro": 6, "RLHF": -11}.get(method, 4)
            ax.annotate(f"{sym.get(method, '')}={w}", (r.kl, r.reward), textcoords="offset points",
                        xytext=(3, dy), fontsize=fs(7), color=c)  # fmt: skip
    if "noft_same_streams" in frontier:  # the streams differ in luck: NoFT on each set of them
        ref = frontier.groupby("n_answers")["noft_same_streams"].first()
        for k, (n, v) in enumerate(ref.items()):
            ax.axhline(v, color=COLORS["NoFT"], lw=1, ls=(0, (1, 1 + k)),
                       label=f"NoFT on the same {n} answers per prompt: {v:.3f}")  # fmt: skip
    if candidates is not None and not candidates.empty:
        e = candidates.sort_values("kl")
        ax.plot(
            e["kl"], e["reward"], color="k", lw=1, ls="--", label="closed-form rho*_λ (candidates)"
        )
    ax.set_xscale("symlog", linthresh=1e-4, linscale=0.5)
    ax.set_xlim(left=0)
    ax.set(xlabel="KL to the reference (nats per sequence; rewrites for Align-Pro, answers otherwise;\n"
                  "log scale above 1e-4)", ylabel="mean test reward (reward units)",
           title=title or "measured on the test prompts")  # fmt: skip
    ax.legend(fontsize=fs(8), loc="upper left", bbox_to_anchor=(0.0, -0.22), ncol=2)
    return fig


def plot_round_variance(variance: pd.DataFrame):
    """Total (the paper's measure) and within-prompt reward variance per task and method, from a
    pooled round's ``variance.csv``: bars are the mean over seeds (NoFT: its shared pool), dots
    each seed. Best-of-n is not drawn: its answers are overlapping windows of one pool."""
    import matplotlib.pyplot as plt

    methods = [m for m in ("NoFT", "SFT prompter (λ=∞)", "Align-Pro", "RLHF")
               if m in set(variance["method"])]  # fmt: skip
    colours = {"NoFT": COLORS["NoFT"], "SFT prompter (λ=∞)": "#bcbd22",
               "Align-Pro": COLORS["Align-Pro"], "RLHF": COLORS["RLHF"]}  # fmt: skip
    tasks = list(dict.fromkeys(variance["task"]))
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    w = 0.8 / len(methods)
    for ax, col, title in ((axes[0], "total", "total reward variance (the paper's measure)"),
                           (axes[1], "within", "within-prompt reward variance")):  # fmt: skip
        for k, m in enumerate(methods):
            g = variance[variance["method"] == m]
            bar = g[g["seed"].isin(["all", "mean"])].set_index("task").reindex(tasks)
            xs = np.arange(len(tasks)) + (k - (len(methods) - 1) / 2) * w
            ax.bar(xs, bar[col], width=w, color=colours[m], label=m)
            seeds = g[~g["seed"].isin(["all", "mean"])]
            for j, t in enumerate(tasks):
                v = seeds.loc[seeds["task"] == t, col]
                ax.plot([xs[j]] * len(v), v, ".", color="k", ms=4)
        ax.set_xticks(range(len(tasks)), tasks)
        ax.set(title=title, ylabel="Var r (reward units²)")
    axes[0].legend(fontsize=fs(8))
    fig.suptitle("dots: each seed; best-of-n left out (its answers are windows of one pool)",
                 fontsize=fs(9))  # fmt: skip
    return fig
