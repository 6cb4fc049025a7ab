"""The λ dashboards (ipywidgets) over the pure plotting functions in :mod:`alignpro_lite.ui.plots`.

``lam_dashboard(problem)`` — move λ, watch ``rho*`` against ``rho_sft`` and the reward,
variance (both terms), KL and objective curves, with the current numbers printed.
``bound_dashboard(problem)`` — move λ and β, watch the sub-optimality bound and its terms.

Every curve is computed once on a λ grid; moving the slider only recomputes ``rho*`` at the
current λ and updates a few artists, then re-renders one PNG (target < 100 ms per redraw).
Tests drive the dashboards without a browser through :meth:`set_lam` / the slider's value.
CSS classes (``apl-lam``, ``apl-beta``, ``apl-readout``, ``apl-figure``) let the browser test
find the widgets.
"""

from __future__ import annotations

import io
import time

import matplotlib
import numpy as np

from alignpro_lite.config import static_mode
from alignpro_lite.exact import discrete
from alignpro_lite.exact.problems import DiscreteProblem
from alignpro_lite.exact.sweep import sweep_metrics
from alignpro_lite.exact.validate import positive_scalar
from alignpro_lite.ui import plots

ALL = -1  # prompt-selector value for "all prompts, P-weighted"
LIVE_NOTE = (
    "A static snapshot: run it live in JupyterLab (<code>make lab</code>) and move the sliders."
)


def _live(interactive: bool) -> bool:
    """Build the ipywidgets? Not under ``ALIGNPRO_STATIC=1`` (the website shows a snapshot)."""
    return bool(interactive) and not static_mode()


def _new_figure(figsize):
    """A figure with its own Agg canvas, outside pyplot's registry (no duplicate inline output)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    scale = plots.figure_scale()  # the talk style's larger fonts need a larger canvas
    fig = Figure(figsize=(figsize[0] * scale, figsize[1] * scale), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _encode_png(rgba: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgba).save(buf, format="png", compress_level=1)
    return buf.getvalue()


class _Dashboard:
    """Shared machinery: blitted PNG rendering, a readout and timing of the last redraw.

    The static part of the figure (axes, curves, labels) is rendered once by :meth:`_freeze`;
    each update restores that background, draws only the ``dynamic`` artists (bars, markers)
    and encodes one PNG, which keeps a redraw in the tens of milliseconds on a laptop CPU.
    """

    redraw_ms: float = float("nan")
    dynamic: list

    def _build_widgets(self, sliders, figsize_px):
        import ipywidgets as W

        self.readout = W.HTML(layout=W.Layout(width="100%"))
        self.readout.add_class("apl-readout")
        self.image = W.Image(
            format="png",
            layout=W.Layout(
                width=f"{round(figsize_px * plots.figure_scale())}px", max_width="100%"
            ),
        )
        self.image.add_class("apl-figure")
        self.widget = W.VBox(
            [W.HBox(sliders, layout=W.Layout(flex_flow="row wrap")), self.readout, self.image]
        )

    def _freeze(self, dynamic) -> None:
        """Render the static background once; ``dynamic`` artists are drawn per update."""
        self.dynamic = list(dynamic)
        for artist in self.dynamic:
            artist.set_animated(True)
        canvas = self.fig.canvas
        canvas.draw()  # runs the constrained layout once
        self.fig.set_layout_engine("none")  # then freeze it: positions no longer move
        self.background = canvas.copy_from_bbox(self.fig.bbox)

    def _publish(self, t0: float, html: str) -> None:
        canvas = self.fig.canvas
        canvas.restore_region(self.background)
        for artist in self.dynamic:
            self.fig.draw_artist(artist)
        self.png = _encode_png(np.asarray(canvas.buffer_rgba()))
        self.redraw_ms = (time.perf_counter() - t0) * 1e3
        self.html = html
        if hasattr(self, "image"):
            self.image.value = self.png
            self.readout.value = (
                f"<div style='font-family:monospace;font-size:13px;line-height:1.5'>{html}"
                f" <span style='color:#888;white-space:nowrap'>| redraw <span class='apl-redraw-ms'>"
                f"{self.redraw_ms:.1f}</span>&nbsp;ms</span></div>"
            )

    def save(self, path) -> None:
        """Write the current figure (as shown) to a PNG file."""
        with open(path, "wb") as fh:
            fh.write(self.png)

    def _ipython_display_(self):  # shows the widget when the dashboard is a cell's last value
        from IPython.display import HTML, Image, display

        if hasattr(self, "widget"):
            display(self.widget)
            return
        # no widgets (interactive=False or ALIGNPRO_STATIC=1): the figure as shown, the readout
        # and how to run it live
        display(Image(data=self.png, format="png"))
        extra = getattr(self, "examples_html", "")
        display(HTML(f"<div class='apl-static'><div style='font-family:monospace;font-size:13px'>"
                     f"{self.html}</div>{extra}<p><em>{LIVE_NOTE}</em></p></div>"))  # fmt: skip


class LamDashboard(_Dashboard):
    """Interactive ``rho*`` explorer for a :class:`DiscreteProblem`.

    Args:
        problem: the instance (tabular or estimated table).
        lam: initial λ.
        lam_range: ``(lo, hi)`` of the log slider and of the curves.
        prompt: initial prompt index, or ``-1`` for all prompts (P-weighted).
        interactive: build the ipywidgets (False: only the figure, for scripts/tests).
    """

    def __init__(
        self,
        problem: DiscreteProblem,
        lam: float = 1.0,
        lam_range: tuple[float, float] = (1e-3, 1e2),
        prompt: int = 0,
        interactive: bool = True,
    ):
        self.problem = problem
        lo, hi = lam_range
        self.grid = np.geomspace(lo, hi, 121)
        self.R, self.V = problem.R, problem.V
        self.curves_all = sweep_metrics(problem.rho_sft, self.R, self.grid, self.V, problem.P)
        self.lam = float(lam)
        self.prompt = int(prompt)
        if _live(interactive):
            import ipywidgets as W

            self.slider = W.FloatLogSlider(
                value=self.lam,
                base=10,
                min=np.log10(lo),
                max=np.log10(hi),
                step=0.02,
                description="λ",
                readout_format=".3g",
                continuous_update=True,
                layout=W.Layout(width="420px"),
            )
            self.slider.add_class("apl-lam")
            options = [("all prompts (P-weighted)", ALL)] + [
                (f"x{i}: {plots.short(t, 60)}", i)
                for i, t in enumerate(problem.prompts or range(problem.n_x))
            ]
            self.selector = W.Dropdown(
                options=options,
                value=self.prompt,
                description="prompt",
                layout=W.Layout(width="520px"),
            )
            self.selector.add_class("apl-prompt")
            self.slider.observe(lambda ch: self.set_lam(ch["new"]), names="value")
            self.selector.observe(lambda ch: self.set_prompt(ch["new"]), names="value")
            self._build_widgets([self.slider, self.selector], 1040)
        self._draw_static()
        self.update()

    # ---------------------------------------------------------------- drawing
    def _curves(self) -> dict:
        c = self.curves_all
        if self.prompt == ALL:
            out = {k: c["mean_" + k] for k in ("reward", "objective", "noise", "choice", "kl")}
            out["variance"], out["between"] = c["mean_variance"], c["mean_between"]
        else:
            i = self.prompt
            out = {
                k: c[k][:, i] for k in ("reward", "objective", "noise", "choice", "kl", "variance")
            }
        return out

    def _draw_static(self) -> None:
        fig = self.fig = _new_figure((10.4, 6.6))
        gs = fig.add_gridspec(2, 3, height_ratios=[1.15, 1])
        self.ax_bar = fig.add_subplot(gs[0, :])
        axes = [fig.add_subplot(gs[1, k]) for k in range(3)]
        p = self.problem
        if self.prompt == ALL:
            self.ax_bar.set_axis_off()
            ax = self.ax_bar = fig.add_subplot(gs[0, :])
            self.heat = ax.imshow(
                np.zeros_like(self.R), vmin=0, vmax=1, cmap="Blues", aspect="auto"
            )
            ax.set_yticks(
                range(p.n_x),
                [f"x{i}: {plots.short(t, 30)}" for i, t in enumerate(p.prompts or range(p.n_x))],
                fontsize=plots.fs(7.5),
            )
            ax.set_xticks(range(p.n_c), ["c0 (original)"] + [f"c{j}" for j in range(1, p.n_c)])
            ax.set_title(
                "rho*(x'|x) for every prompt (rows) and candidate rewrite (columns)",
                fontsize=plots.fs(10),
            )
            ax.grid(False)
            fig.colorbar(self.heat, ax=ax, label="probability", shrink=0.8)
            self.bars = None
        else:
            i = self.prompt
            cands = p.candidates[i] if p.candidates else [f"c{j}" for j in range(p.n_c)]
            n_c = len(cands)
            self.bars = plots.plot_prompter_bars(
                self.ax_bar,
                p.rho_sft[i, :n_c],
                p.rho_sft[i, :n_c],
                plots.candidate_labels(cands, 34),
                self.R[i, :n_c],
                title=f"x{i}: {plots.short(p.prompts[i] if p.prompts else i, 90)}",
            )
        r_ref = {}
        if self.prompt == ALL:
            sft = sweep_metrics(p.rho_sft, self.R, 1e12, self.V, p.P)
            r_ref["E[R] under rho_sft"] = (float(sft["mean_reward"][0]), ":")
        else:
            i = self.prompt
            r_ref["E[R] under rho_sft"] = (float(p.rho_sft[i] @ self.R[i]), ":")
            r_ref["best rewrite max R"] = (float(self.R[i][p.rho_sft[i] > 0].max()), "-.")
        self.markers = plots.plot_sweep_curves(axes, self.grid, self._curves(), self.lam, r_ref)
        self.dots = [ax.plot([], [], "o", color="k", ms=5)[0] for ax in axes]
        self.curve_axes = axes
        dynamic = list(self.bars) if self.bars is not None else [self.heat]
        self._freeze(dynamic + self.markers + self.dots)

    def update(self) -> None:
        """Recompute ``rho*`` at the current λ, move the markers, re-render, refresh the readout."""
        t0 = time.perf_counter()
        p = self.problem
        now = sweep_metrics(p.rho_sft, self.R, self.lam, self.V, p.P)
        rho = now["rho"][0]
        if self.prompt == ALL:
            self.heat.set_data(rho)
            vals = {
                k: float(now["mean_" + k][0])
                for k in ("reward", "noise", "choice", "kl", "objective", "variance", "between")
            }
        else:
            i = self.prompt
            for bar, h in zip(self.bars, rho[i]):
                bar.set_height(h)
            vals = {
                k: float(now[k][0, i])
                for k in ("reward", "noise", "choice", "kl", "objective", "variance")
            }
        for m in self.markers:
            m.set_xdata([self.lam, self.lam])
        for dot, key in zip(self.dots, ("reward", "variance", "kl")):
            dot.set_data([self.lam], [vals[key]])
        self.values = vals
        self.rho = rho
        split = f"noise {vals['noise']:.4f} + choice {vals['choice']:.4f}"
        if "between" in vals:
            split += f" + between {vals['between']:.4f}"
        html = (
            f"λ = <b>{self.lam:.3g}</b> &nbsp;|&nbsp; E[R] = <b>{vals['reward']:.4f}</b>"
            f" &nbsp;|&nbsp; Var = <b>{vals['variance']:.4f}</b> ({split})"
            f" &nbsp;|&nbsp; KL = <b>{vals['kl']:.4f}</b> nats"
            f" &nbsp;|&nbsp; objective = <b>{vals['objective']:.4f}</b>"
        )
        self._publish(t0, html)

    # ---------------------------------------------------------------- controls
    def set_lam(self, lam: float) -> None:
        """Move λ (what the slider calls)."""
        lam = positive_scalar(lam, "lam")
        self.lam = lam
        if hasattr(self, "slider") and self.slider.value != lam:
            self.slider.value = lam  # triggers update through the observer
            return
        self.update()

    def set_prompt(self, prompt: int) -> None:
        """Show one prompt (index) or all prompts (``-1``)."""
        self.prompt = int(prompt)
        if hasattr(self, "selector") and self.selector.value != self.prompt:
            self.selector.value = self.prompt
            return
        self._draw_static()
        self.update()


class BoundDashboard(_Dashboard):
    """Explorer of ``J(pi*) - J(pi_rho*) <= (r_max - r_min) E TV(pi*, pi_rho_sft) - λ E KL``.

    Left: the gap, the bound and its two terms against λ for the current β; right: the
    response distributions of the frozen model, Align-Pro and the RLHF optimum for one prompt.
    Needs a tabular problem (``pi_F`` and ``r``).
    """

    def __init__(
        self,
        problem: DiscreteProblem,
        lam: float = 0.1,
        beta: float = 0.1,
        lam_range: tuple[float, float] = (1e-3, 1e2),
        prompt: int = 0,
        interactive: bool = True,
    ):
        if not problem.tabular:
            raise ValueError("the bound dashboard needs a tabular problem (pi_F and r).")
        self.problem = problem
        self.grid = np.geomspace(*lam_range, 81)
        self.lam, self.beta, self.prompt = float(lam), float(beta), int(prompt)
        if _live(interactive):
            import ipywidgets as W

            lo, hi = np.log10(lam_range)
            self.slider = W.FloatLogSlider(
                value=self.lam,
                min=lo,
                max=hi,
                step=0.02,
                description="λ",
                readout_format=".3g",
                layout=W.Layout(width="380px"),
            )
            self.slider.add_class("apl-lam")
            self.beta_slider = W.FloatLogSlider(
                value=self.beta,
                min=-3,
                max=2,
                step=0.02,
                description="β",
                readout_format=".3g",
                continuous_update=False,  # a β change redraws every curve: update on release
                layout=W.Layout(width="380px"),
            )
            self.beta_slider.add_class("apl-beta")
            self.selector = W.Dropdown(
                options=[
                    (f"x{i}: {plots.short(t, 40)}", i)
                    for i, t in enumerate(problem.prompts or range(problem.n_x))
                ],
                value=self.prompt,
                description="prompt",
                layout=W.Layout(width="380px"),
            )
            self.slider.observe(lambda ch: self._set(lam=ch["new"]), names="value")
            self.beta_slider.observe(lambda ch: self._set(beta=ch["new"]), names="value")
            self.selector.observe(lambda ch: self._set(prompt=ch["new"]), names="value")
            self._build_widgets([self.slider, self.beta_slider, self.selector], 1040)
        self._draw()

    def _draw(self, t0: float | None = None) -> None:
        """Redraw the static part (depends on β and the prompt), then the λ-dependent part."""
        t0 = time.perf_counter() if t0 is None else t0
        p = self.problem
        terms = discrete.suboptimality_bound(
            p.rho_sft, p.pi_F, p.r, self.grid, self.beta, p.P, r_range=p.r_range
        )
        fig = self.fig = _new_figure((10.4, 4.2))
        ax_b, ax_p = fig.subplots(1, 2, width_ratios=[1.1, 1])
        self.marker = plots.plot_bound(ax_b, self.grid, terms, self.lam)
        self.dot_gap = ax_b.plot([], [], "o", color="k")[0]
        self.dot_bound = ax_b.plot([], [], "o", color="#d62728")[0]
        i = self.prompt
        self.pi_star = discrete.rlhf_optimal_policy(p.pi_ref, p.r, self.beta)
        self.n_y = n_y = len(p.responses[i]) if p.responses else p.pi_F.shape[2]
        self.bars_rho, _ = plots.plot_policies(
            ax_p,
            p.responses[i] if p.responses else range(n_y),
            p.pi_ref[i, :n_y],
            p.pi_ref[i, :n_y],
            self.pi_star[i, :n_y],
            p.r[i, :n_y],
            title=f"x{i}: {plots.short(p.prompts[i] if p.prompts else i, 45)}",
        )
        self._freeze([self.marker, self.dot_gap, self.dot_bound, *self.bars_rho])
        self._update(t0)

    def _update(self, t0: float | None = None) -> None:
        t0 = time.perf_counter() if t0 is None else t0
        p, i = self.problem, self.prompt
        now = discrete.suboptimality_bound(
            p.rho_sft, p.pi_F, p.r, self.lam, self.beta, p.P, r_range=p.r_range
        )
        pi_rho = discrete.induced_policy(p.optimal_prompter(self.lam), p.pi_F)
        for bar, h in zip(self.bars_rho, pi_rho[i, : self.n_y]):
            bar.set_height(h)
        self.marker.set_xdata([self.lam, self.lam])
        self.dot_gap.set_data([self.lam], [float(now.gap)])
        self.dot_bound.set_data([self.lam], [float(now.bound)])
        self.terms = now
        self.values = {
            "gap": float(now.gap),
            "bound": float(now.bound),
            "tv_term": float(now.tv_term),
            "kl_term": float(now.kl_term),
            "slack": float(now.slack),
        }
        html = (
            f"λ = <b>{self.lam:.3g}</b>, β = <b>{self.beta:.3g}</b> &nbsp;|&nbsp; gap J(π*)−J(π_ρ*)"
            f" = <b>{now.gap:.4f}</b> ≤ bound <b>{now.bound:.4f}</b> &nbsp;|&nbsp; slack {now.slack:.4f}"
            f"<br>bound = TV term {now.tv_term:.4f} (≤ target {now.tv_target:.4f} + prompter"
            f" {now.tv_prompter:.4f}, the triangle inequality) − KL term {now.kl_term:.4f}"
        )
        self._publish(t0, html)

    def _set(self, lam=None, beta=None, prompt=None) -> None:
        t0 = time.perf_counter()  # a full redraw is timed from the input, not after it
        if lam is not None:
            self.lam = float(lam)
        if beta is None and prompt is None:
            self._update()
            return
        if beta is not None:
            self.beta = float(beta)
        if prompt is not None:
            self.prompt = int(prompt)
        self._draw(t0)

    def set_lam(self, lam: float) -> None:
        if hasattr(self, "slider"):
            self.slider.value = float(lam)
        else:
            self._set(lam=lam)

    def set_beta(self, beta: float) -> None:
        if hasattr(self, "beta_slider"):
            self.beta_slider.value = float(beta)
        else:
            self._set(beta=beta)


def lam_dashboard(problem: DiscreteProblem, **kwargs) -> LamDashboard:
    """The λ dashboard for ``problem`` (display it as a cell's last value)."""
    return LamDashboard(problem, **kwargs)


def bound_dashboard(problem: DiscreteProblem, **kwargs) -> BoundDashboard:
    """The sub-optimality bound explorer for a tabular ``problem``."""
    return BoundDashboard(problem, **kwargs)


matplotlib.rcParams.setdefault("figure.max_open_warning", 50)


class SweepDashboard(_Dashboard):
    """The λ sweep of the GENERATIVE prompter (notebook 08): a slider over the λ grid of prompters
    refitted from one shared sample bank, with their measured mean reward (95% CI), total and
    within-prompt variance, and KL to ``rho_sft``, as in notebook 01's dashboard, plus example
    rewrites of the prompter at the current λ.

    Args:
        sweep: rows of :func:`~alignpro_lite.experiment.evaluate.lam_sweep_table` for ONE task
            (columns ``lam``, ``mean``, ``ci_low``, ``ci_high``, ``variance``, ``var_within``,
            ``kl``; ``lam = inf`` is ``rho_sft``).
        examples: evaluation rows with ``lam``, ``x``, ``x_prime``, ``y``, ``reward``.
        ess: optional rows of the replication's ``ess.csv`` (``lam``, ``ess_mean``) for this task.
    """

    def __init__(self, sweep, examples=None, ess=None, lam=None, interactive: bool = True,
                 n_examples: int = 3):  # fmt: skip
        import pandas as pd

        s = sweep.sort_values("lam").reset_index(drop=True)
        if s.empty:
            raise ValueError("sweep is empty: give the lam_sweep rows of one task.")
        if s["lam"].duplicated().any() or s["lam"].isna().any():
            raise ValueError(
                "sweep needs one row per λ (no NaN, no duplicates): give one task and one route."
            )
        self.sweep = s
        self.lams = [float(v) for v in s["lam"]]
        finite = [v for v in self.lams if np.isfinite(v)]
        self.x_inf = max(finite) * 4 if finite else 1.0  # where λ = ∞ sits on the log axis
        self.xs = [v if np.isfinite(v) else self.x_inf for v in self.lams]
        self.examples = examples if examples is not None else pd.DataFrame()
        self.ess = ess
        self.n_examples = int(n_examples)
        self.lam = float(lam) if lam is not None else self.lams[len(self.lams) // 2]
        if _live(interactive):
            import ipywidgets as W

            options = [
                (("∞ (rho_sft)" if not np.isfinite(v) else f"{v:.3g}"), v) for v in self.lams
            ]
            self.slider = W.SelectionSlider(options=options, value=self._nearest(self.lam),
                                            description="λ", continuous_update=True,
                                            layout=W.Layout(width="520px"))  # fmt: skip
            self.slider.add_class("apl-lam")
            self.slider.observe(lambda ch: self.set_lam(ch["new"]), names="value")
            self._build_widgets([self.slider], 1040)
            self.table = W.HTML(layout=W.Layout(width="100%"))
            self.widget.children = (*self.widget.children, self.table)
        self._draw_static()
        self.set_lam(self.lam)

    def _nearest(self, lam: float) -> float:
        if not np.isfinite(lam):
            return self.lams[-1]
        return min(
            self.lams, key=lambda v: abs(np.log(v) - np.log(lam)) if np.isfinite(v) else np.inf
        )

    def _draw_static(self) -> None:
        s, xs = self.sweep, np.array(self.xs)
        self.fig = _new_figure((10.4, 3.4))
        axes = self.fig.subplots(1, 3)
        ax_r, ax_v, ax_kl = axes
        ax_r.fill_between(xs, s["ci_low"], s["ci_high"], color=plots.COLORS["reward"], alpha=0.15)
        ax_r.plot(xs, s["mean"], "o-", color=plots.COLORS["reward"], label="mean reward (95% CI)")
        ax_r.set(ylabel="reward (reward units)", title="mean reward on the test prompts")
        ax_v.plot(xs, s["variance"], "o-", color="k", label="total")
        ax_v.plot(xs, s["var_within"], "o--", color=plots.COLORS["noise"], label="within prompt")
        ax_v.set(ylabel="variance (reward units²)", title="reward variance")
        ax_v.legend(fontsize=plots.fs(9))
        kl = s["kl"] if "kl" in s else np.full(len(s), np.nan)
        ax_kl.plot(xs, kl, "o-", color=plots.COLORS["kl"])
        ax_kl.set(ylabel="KL (nats)", title="KL(rho_θ ‖ rho_sft), measured")
        self.markers = []
        for ax, col in ((ax_r, s["mean"]), (ax_v, s["variance"]), (ax_kl, kl)):
            ax.set_xscale("log")
            ticks = list(xs)
            ax.set_xticks(ticks, [f"{v:.2g}" if np.isfinite(lv) else "∞"
                                  for v, lv in zip(xs, self.lams, strict=True)])  # fmt: skip
            ax.minorticks_off()
            ax.set_xlabel("λ (log scale; ∞ = rho_sft)")
            (m,) = ax.plot([xs[0]], [np.asarray(col)[0]], "o", ms=13, mfc="none", mec="#333", mew=2)
            v = ax.axvline(xs[0], color="#333", lw=1, alpha=0.5)
            self.markers.append((m, v, np.asarray(col, dtype=float)))
        self._freeze([a for m, v, _ in self.markers for a in (m, v)])

    def set_lam(self, lam: float) -> None:
        """Move to the grid λ nearest ``lam`` (what the slider does)."""
        t0 = time.perf_counter()
        lam = self._nearest(float(lam))
        i = self.lams.index(lam)
        self.lam = lam
        for m, v, col in self.markers:
            m.set_data([self.xs[i]], [col[i]])
            v.set_xdata([self.xs[i], self.xs[i]])
        row = self.sweep.iloc[i]
        self.values = {k: float(row[k]) for k in ("mean", "variance", "var_within") if k in row}
        self.values["kl"] = float(row["kl"]) if "kl" in row else float("nan")
        lam_txt = "∞ (rho_sft)" if not np.isfinite(lam) else f"{lam:.4g}"
        html = (f"λ = <b>{lam_txt}</b> · mean reward <b>{self.values['mean']:.4f}</b> "
                f"[{row['ci_low']:.3f}, {row['ci_high']:.3f}] · variance {self.values['variance']:.4f} "
                f"(within {self.values['var_within']:.4f}) · KL {self.values['kl']:.3f} nats")  # fmt: skip
        if self.ess is not None and np.isfinite(lam) and len(self.ess):
            e = self.ess.iloc[(np.log(self.ess["lam"]) - np.log(lam)).abs().argmin()]
            html += f" · ESS of the bank's weights {e['ess_mean']:.2f} of {int(e['n'])}"
        self._publish(t0, html)
        self.examples_html = self._examples_html(lam)
        if hasattr(self, "table"):
            self.table.value = self.examples_html

    def _examples_html(self, lam: float) -> str:
        import html as H

        ex = self.examples
        if ex.empty:
            return ""
        same = ex["lam"].apply(lambda v: (np.isposinf(v) and np.isposinf(lam))
                               or (np.isfinite(v) and np.isfinite(lam) and np.isclose(v, lam)))  # fmt: skip
        ex = ex[same].head(self.n_examples)
        rows = "".join(
            f"<tr><td>{H.escape(plots.short(r.x, 60))}</td><td>{H.escape(plots.short(r.x_prime, 90))}</td>"
            f"<td>{H.escape(plots.short(r.y, 90))}</td><td>{r.reward:+.2f}</td></tr>"
            for r in ex.itertuples()
        )
        return ("<table style='font-size:13px'><tr><th>user prompt x</th><th>rewrite x' at this λ</th>"
                f"<th>frozen model's answer y</th><th>reward</th></tr>{rows}</table>")  # fmt: skip


def sweep_dashboard(sweep, examples=None, **kwargs) -> SweepDashboard:
    """:class:`SweepDashboard` over the shipped λ sweep of the generative prompter."""
    return SweepDashboard(sweep, examples, **kwargs)


# --------------------------------------------------------------------------- notebook 07
def bank_weight_curves(groups, R_hat, lams) -> dict:
    """What the bank's own weights ``w ∝ exp(R̂/λ)`` promise at each λ, averaged over prompts:
    ``reward`` = ``E_w[R̂]``, ``ess`` = ``1/sum w²``, ``kl`` = ``KL(w ‖ uniform) = sum_j w_j log(N w_j)``
    (the KL a perfect fit of the reweighted bank would have to ``rho_sft``'s empirical sample),
    each ``(len(lams),)``. ``lams`` may hold ``inf`` (uniform weights: KL 0, ESS N)."""
    from alignpro_lite.exact.distill import effective_sample_size, snis_weights

    g = np.asarray(groups)
    R = np.asarray(R_hat, dtype=float)
    out = {k: np.zeros(len(lams)) for k in ("reward", "ess", "kl")}
    keys = list(dict.fromkeys(g.tolist()))
    for i, lam in enumerate(lams):
        rs, es, ks = [], [], []
        for k in keys:
            r = R[g == k]
            n = len(r)
            w = np.full(n, 1.0 / n) if not np.isfinite(lam) else snis_weights(r, lam)
            rs.append(float(w @ r))
            es.append(float(effective_sample_size(w)))
            pos = w > 0
            ks.append(float(np.sum(w[pos] * np.log(n * w[pos]))))
        out["reward"][i], out["ess"][i], out["kl"][i] = np.mean(rs), np.mean(es), np.mean(ks)
    return out


class BankWeightsDashboard(_Dashboard):
    """Move λ over the bank's own weights (notebook 07): ``E_w[R̂]``, the ESS and
    ``KL(w ‖ uniform)`` move smoothly, on a fine λ grid; beside them, the exact ``rho*_λ`` over the
    candidate tables (``exact``: ``lam``, ``reward``, ``kl``) and the prompters refitted from the
    bank and measured on the test prompts (``fitted``: a λ-sweep table with ``lam``, ``kl``,
    ``kl_low``, ``kl_high``, ``reward``, ``reward_low``, ``reward_high``).

    ``groups``/``R_hat``: the fit rows of the bank (a prompt id and ``R̂`` per rewrite);
    ``noise_floor``: the λ below which the weights follow the noise of ``R̂`` (shaded).
    """

    def __init__(self, groups, R_hat, *, exact=None, fitted=None, noise_floor=None, lam=None,
                 lams=None, interactive: bool = True):  # fmt: skip
        self.grid = np.geomspace(1e-3, 1e2, 61) if lams is None else np.asarray(lams, float)
        self.curves = bank_weight_curves(groups, R_hat, self.grid)
        self.groups, self.R_hat = np.asarray(groups), np.asarray(R_hat, dtype=float)
        self.n = int(np.median(np.unique(self.groups, return_counts=True)[1]))
        self.exact, self.fitted, self.noise_floor = exact, fitted, noise_floor
        self.lam = float(lam) if lam is not None else float(np.sqrt(self.grid[0] * self.grid[-1]))
        if _live(interactive):
            import ipywidgets as W

            self.slider = W.FloatLogSlider(value=self.lam, base=10,
                                           min=np.log10(self.grid[0]), max=np.log10(self.grid[-1]),
                                           step=0.02, description="λ", continuous_update=True,
                                           readout_format=".3g", layout=W.Layout(width="520px"))  # fmt: skip
            self.slider.add_class("apl-lam")
            self.slider.observe(lambda ch: self.set_lam(ch["new"]), names="value")
            self._build_widgets([self.slider], 1100)
        self._draw_static()
        self.set_lam(self.lam)

    def _draw_static(self) -> None:
        self.fig = _new_figure((11.0, 3.6))
        ax_r, ax_e, ax_k = self.fig.subplots(1, 3)
        x, c = self.grid, self.curves
        ax_r.plot(x, c["reward"], color=plots.COLORS["reward"], label="E_w[R̂] (bank, train)")
        ax_e.plot(x, c["ess"], color="k")
        ax_k.plot(x, c["kl"], color=plots.COLORS["kl"], label="KL(w ‖ uniform) (bank)")
        if self.exact is not None and len(self.exact):
            e = self.exact.sort_values("lam")
            ax_r.plot(e["lam"], e["reward"], "k--", lw=1, label="exact rho*_λ (candidate table)")
            ax_k.plot(e["lam"], e["kl"], "k--", lw=1, label="exact rho*_λ (candidate table)")
        if self.fitted is not None and len(self.fitted):
            f = self.fitted[np.isfinite(self.fitted["lam"])]
            f = f[(f["lam"] >= x[0]) & (f["lam"] <= x[-1])]
            ax_r.errorbar(f["lam"], f["reward"], yerr=[f["reward"] - f["reward_low"],
                          f["reward_high"] - f["reward"]], fmt="s", color=plots.COLORS["Align-Pro"],
                          capsize=3, label="fitted prompter (test, 95% CI)")  # fmt: skip
            ax_k.errorbar(f["lam"], f["kl"], yerr=[f["kl"] - f["kl_low"], f["kl_high"] - f["kl"]],
                          fmt="s", color=plots.COLORS["Align-Pro"], capsize=3,
                          label="fitted prompter (test, per-token KL)")  # fmt: skip
        ax_r.set(ylabel="reward (reward units)", title="reward the weights promise")
        ax_e.set(ylabel=f"ESS (of N = {self.n})", title="effective sample size")
        ax_k.set(ylabel="KL (nats)", title="distance from rho_sft")
        for ax in (ax_r, ax_e, ax_k):
            ax.set_xscale("log")
            ax.set_xlabel("λ (reward units per nat, log scale)")
            if self.noise_floor is not None:
                ax.axvspan(x[0], self.noise_floor, color="0.85", alpha=0.6, lw=0)
        if self.noise_floor is not None:
            ax_e.text(0.03, 0.97, "shaded: λ below 2 × the\nmedian SE of R̂ (noise)",
                      transform=ax_e.transAxes, fontsize=plots.fs(8), va="top")  # fmt: skip
        ax_r.legend(fontsize=plots.fs(7))
        ax_k.legend(fontsize=plots.fs(7))
        self.markers = []
        for ax, col in ((ax_r, c["reward"]), (ax_e, c["ess"]), (ax_k, c["kl"])):
            (m,) = ax.plot([x[0]], [col[0]], "o", ms=11, mfc="none", mec="#333", mew=2)
            v = ax.axvline(x[0], color="#333", lw=1, alpha=0.5)
            self.markers.append((m, v, ax))
        self._freeze([a for m, v, _ in self.markers for a in (m, v)])

    def set_lam(self, lam: float) -> None:
        """Move to ``lam`` (any value in the grid's range; the slider does this)."""
        t0 = time.perf_counter()
        lam = float(np.clip(positive_scalar(lam, "lam"), self.grid[0], self.grid[-1]))
        self.lam = lam
        now = bank_weight_curves(self.groups, self.R_hat, [lam])
        self.values = {k: float(v[0]) for k, v in now.items()}
        for (m, v, _), k in zip(self.markers, ("reward", "ess", "kl"), strict=True):
            m.set_data([lam], [self.values[k]])
            v.set_xdata([lam, lam])
        below = self.noise_floor is not None and lam < self.noise_floor
        html = (f"λ = <b>{lam:.3g}</b> · E_w[R̂] <b>{self.values['reward']:.3f}</b> · "
                f"ESS <b>{self.values['ess']:.2f}</b> of {self.n} · KL(w ‖ uniform) "
                f"<b>{self.values['kl']:.3f}</b> nats"
                + (" · <span style='color:#b00'>below the noise floor of R̂</span>" if below else ""))  # fmt: skip
        self._publish(t0, html)


def bank_dashboard(groups, R_hat, **kwargs) -> BankWeightsDashboard:
    """:class:`BankWeightsDashboard` over a bank's fit rows."""
    return BankWeightsDashboard(groups, R_hat, **kwargs)


# --------------------------------------------------------------------------- notebooks 04 and 06
def _log_slider(value, grid):
    import ipywidgets as W

    s = W.FloatLogSlider(value=value, base=10, min=np.log10(grid[0]), max=np.log10(grid[-1]),
                         step=0.02, description="λ", continuous_update=True, readout_format=".3g",
                         layout=W.Layout(width="520px"))  # fmt: skip
    s.add_class("apl-lam")
    return s


class _LogSliderDashboard(_Dashboard):
    """A dashboard with one logarithmic λ slider over ``self.grid``, starting at ``self.lam``."""

    def _start_log_slider(self, interactive: bool) -> None:
        if _live(interactive):
            self.slider = _log_slider(self.lam, self.grid)
            self.slider.observe(lambda ch: self.set_lam(ch["new"]), names="value")
            self._build_widgets([self.slider], 1000)
        self._draw_static()
        self.set_lam(self.lam)


class DPODashboard(_LogSliderDashboard):
    """Move λ and watch Align-Pro's ``rho*_λ`` and DPO's fit at the same λ move together
    (notebook 04): one prompt's bars (``rho_sft``, ``rho*_λ``, the DPO fit from the preference
    counts ``W``) and, against λ, the P-weighted TV between the fit and ``rho*`` (precomputed).

    ``W``: ``(n_x, n_c, n_c)`` preference weights (``exact.dpo.preference_table`` for exact
    labels, ``exact.dpo.sample_preferences`` for sampled ones)."""

    def __init__(self, problem: DiscreteProblem, W, *, x: int = 0, lam: float = 0.1,
                 lams=None, interactive: bool = True):  # fmt: skip
        from alignpro_lite.exact import dpo

        self.problem, self.W, self.x = problem, np.asarray(W, dtype=float), int(x)
        if not 0 <= self.x < problem.n_x:
            raise ValueError(f"x must be a prompt index in 0..{problem.n_x - 1}, got {x!r}.")
        self.grid = np.geomspace(1e-2, 10.0, 25) if lams is None else np.asarray(lams, float)
        self._fit = lambda lam: dpo.fit_dpo(problem.rho_sft, self.W, lam)
        self.tv = np.array([float(discrete.total_variation(self._fit(v), problem.optimal_prompter(v)) @ problem.P)
                            for v in self.grid])  # fmt: skip
        self.lam = float(lam)
        self._start_log_slider(interactive)

    def _draw_static(self) -> None:
        p, x = self.problem, self.x
        self.fig = _new_figure((10.0, 3.6))
        ax_b, ax_t = self.fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.4, 1]})
        n_c = p.rho_sft.shape[1]
        pos = np.arange(n_c)
        ax_b.bar(pos - 0.27, p.rho_sft[x], 0.27, color=plots.COLORS["rho_sft"], label="rho_sft")
        self.b_star = ax_b.bar(pos, np.zeros(n_c), 0.27, color=plots.COLORS["rho_star"],
                               label="rho*_λ (closed form)")  # fmt: skip
        self.b_dpo = ax_b.bar(pos + 0.27, np.zeros(n_c), 0.27, color="#ff7f0e",
                              label="DPO fit at λ (from preferences)")  # fmt: skip
        labels = plots.candidate_labels(p.candidates[x]) if p.candidates else [f"c{j}" for j in pos]
        ax_b.set_xticks(pos, labels, rotation=20, ha="right", fontsize=plots.fs(8))
        ax_b.set(
            ylim=(0, 1.05), ylabel="probability", title=f"prompt x{x}: rho* and DPO move together"
        )
        ax_b.legend(fontsize=plots.fs(8), loc="upper left")
        ax_t.plot(self.grid, self.tv, color="k")
        ax_t.set(xscale="log", yscale="symlog", xlabel=plots.lam_label(),
                 ylabel="TV(DPO fit, rho*) (P-weighted)", title="how close the DPO fit is")  # fmt: skip
        ax_t.set_ylim(bottom=0)
        (self.marker,) = ax_t.plot(
            [self.grid[0]], [self.tv[0]], "o", ms=10, mfc="none", mec="#333", mew=2
        )
        self._freeze([*self.b_star, *self.b_dpo, self.marker])

    def set_lam(self, lam: float) -> None:
        """Move to ``lam`` (clipped to the grid's range)."""
        t0 = time.perf_counter()
        lam = float(np.clip(positive_scalar(lam, "lam"), self.grid[0], self.grid[-1]))
        self.lam = lam
        star = self.problem.optimal_prompter(lam)
        fit = self._fit(lam)
        for bar, v in zip(self.b_star, star[self.x], strict=True):
            bar.set_height(v)
        for bar, v in zip(self.b_dpo, fit[self.x], strict=True):
            bar.set_height(v)
        tv = float(discrete.total_variation(fit, star) @ self.problem.P)
        self.marker.set_data([lam], [tv])
        self.values = {"tv": tv, "rho_star": star[self.x], "dpo": fit[self.x]}
        self._publish(
            t0, f"λ = <b>{lam:.3g}</b> · TV(DPO fit, rho*) = <b>{tv:.2e}</b> (P-weighted)"
        )


def dpo_dashboard(problem: DiscreteProblem, W, **kwargs) -> DPODashboard:
    """:class:`DPODashboard` over a table and its preference weights."""
    return DPODashboard(problem, W, **kwargs)


class OveroptDashboard(_LogSliderDashboard):
    """Move λ over over-optimisation curves (notebook 06): for each named curve (frames of
    ``learn.overopt.overoptimisation_curve``: ``lam``, ``kl``, ``proxy``, ``gold``) the proxy
    (learned) reward and the gold reward against λ, with a marker at the current λ and their
    values, and the KL spent there."""

    def __init__(self, curves: dict, *, lam: float = 0.1, interactive: bool = True):
        if not curves:
            raise ValueError("curves is empty: give {label: overoptimisation_curve(...)}.")
        self.curves = {k: v.sort_values("lam").reset_index(drop=True) for k, v in curves.items()}
        first = next(iter(self.curves.values()))
        self.grid = first["lam"].to_numpy(dtype=float)
        self.lam = float(lam)
        self._start_log_slider(interactive)

    def _draw_static(self) -> None:
        self.fig = _new_figure((10.0, 3.6))
        ax_p, ax_g = self.fig.subplots(1, 2)
        self.markers = []
        for i, (label, df) in enumerate(self.curves.items()):
            c = f"C{i}"
            ax_p.plot(df["lam"], df["proxy"], color=c, ls="--", label=label)
            ax_g.plot(df["lam"], df["gold"], color=c, label=label)
            for ax in (ax_p, ax_g):
                (m,) = ax.plot([df["lam"].iloc[0]], [0.0], "o", ms=9, mfc="none", mec=c, mew=2)
                self.markers.append(m)
        for ax in (ax_p, ax_g):
            ax.set_xscale("log")
            ax.set_xlabel(plots.lam_label())
        ax_p.set(ylabel="proxy: mean learned score", title="what the optimiser sees")
        ax_g.set(ylabel="gold reward (VADER)", title="what the user gets")
        ax_g.legend(fontsize=plots.fs(8))
        self.vlines = [
            ax.axvline(self.grid[0], color="#333", lw=1, alpha=0.5) for ax in (ax_p, ax_g)
        ]
        self._freeze([*self.markers, *self.vlines])

    def set_lam(self, lam: float) -> None:
        """Move to ``lam`` (interpolated on each curve's λ grid, in log λ)."""
        t0 = time.perf_counter()
        lam = float(np.clip(positive_scalar(lam, "lam"), self.grid[0], self.grid[-1]))
        self.lam = lam
        self.values, parts, k = {}, [], 0
        for label, df in self.curves.items():
            lx = np.log(df["lam"].to_numpy(dtype=float))
            v = {
                c: float(np.interp(np.log(lam), lx, df[c].to_numpy(dtype=float)))
                for c in ("proxy", "gold", "kl")
            }
            self.values[label] = v
            self.markers[k].set_data([lam], [v["proxy"]])
            self.markers[k + 1].set_data([lam], [v["gold"]])
            k += 2
            parts.append(
                f"{label}: proxy <b>{v['proxy']:.3f}</b>, gold <b>{v['gold']:.3f}</b>, KL {v['kl']:.2f} nats"
            )
        for ln in self.vlines:
            ln.set_xdata([lam, lam])
        self._publish(t0, f"λ = <b>{lam:.3g}</b> · " + " · ".join(parts))


def overopt_dashboard(curves: dict, **kwargs) -> OveroptDashboard:
    """:class:`OveroptDashboard` over named over-optimisation curves."""
    return OveroptDashboard(curves, **kwargs)
