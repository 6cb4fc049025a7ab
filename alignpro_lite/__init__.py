"""alignpro-lite: learn and reproduce Align-Pro (AAAI 2025) on a laptop CPU.

Align a *frozen* LLM ``pi_F`` by optimising the prompter ``rho(x'|x)`` that rewrites its input.
The closed-form optimum is ``rho*(x'|x) ∝ rho_sft(x'|x) exp(R(x,x')/λ)``.

    import alignpro_lite as apl
    cfg = apl.setup()                             # seeds, plot style, device, fast mode
    R   = apl.prompt_values(pi_F, r)              # (n_x, n_c)
    rho = apl.optimal_prompter(rho_sft, R, lam)   # (n_x, n_c) or (L, n_x, n_c)
    pi  = apl.induced_policy(rho, pi_F)           # (n_x, n_y)
    kl  = apl.kl_divergence(p, q)                 # reduces the last axis

The package's folders follow the course; layers point one way
(``exact`` ← ``llm`` ← ``learn`` ← ``experiment`` ← ``cli``; ``ui`` beside them)::

    apl.exact        the closed form on finite prompt sets            (notebooks 01–02, 04)
    apl.llm          the frozen LLM, rewards, tasks, R̂ tables          (notebook 05)
    apl.learn        the training loop, prompters, reward model       (notebooks 03, 06–07)
    apl.experiment   Align-Pro vs RLHF: runs, evaluation, report      (notebook 08)
    apl.ui           figures and λ dashboards
    apl.exercises    the checked exercises of every notebook

``import alignpro_lite`` does not import torch: ``llm``, ``learn`` and ``experiment`` load
their modules on first use.
"""

from alignpro_lite import config, exact, exercises, experiment, learn, llm, ui
from alignpro_lite.config import Setup, cache_dir, data_dir, fast_mode, get_device, prepare
from alignpro_lite.exact.discrete import (
    BoundTerms,
    VarianceSplit,
    dataset_reward_variance,
    expected_reward,
    induced_policy,
    kl_divergence,
    log_optimal_prompter,
    log_partition,
    mean_reward,
    objective,
    optimal_prompter,
    optimal_value,
    prompt_values,
    response_variance,
    reward_variance,
    rlhf_optimal_policy,
    suboptimality_bound,
    total_variation,
)
from alignpro_lite.exact.problems import (
    DiscreteProblem,
    load_problem,
    random_problem,
    teaching_problem,
)
from alignpro_lite.exact.sweep import lam_grid, sweep_metrics
from alignpro_lite.llm.rewards import get_reward, weighted_sum
from alignpro_lite.llm.tasks import TASKS, load_task
from alignpro_lite.ui.widgets import bound_dashboard, lam_dashboard


def setup(
    seed: int = 0,
    *,
    plots: bool = True,
    device: str | None = None,
    fast: bool | None = None,
    style: str = "notebook",
) -> Setup:
    """The first cell of every notebook: seed everything, set the plot style, pick the device
    and report fast mode. Returns a :class:`~alignpro_lite.config.Setup` so a notebook can
    branch on ``cfg.fast``.

    Args:
        fast: ``True``/``False`` switches fast mode on or off for this process (it sets
            ``ALIGNPRO_FAST``); ``None`` keeps what the environment says.
        style: ``"notebook"`` (10 pt) or ``"talk"`` (at least 12 pt, for a projector).
    """
    import os

    from alignpro_lite.config import FAST_ENV

    if fast is not None and not isinstance(fast, bool):  # "no" and "false" are truthy strings
        raise ValueError(f"fast must be True, False or None, got {fast!r}.")
    if fast is not None:
        os.environ[FAST_ENV] = "1" if fast else "0"
    cfg = prepare(seed, device=device)
    if plots:
        ui.plots.set_style(style)
    return cfg


__version__ = "0.1.0"

__all__ = [
    "config",
    "exact",
    "exercises",
    "experiment",
    "learn",
    "llm",
    "ui",
    "bound_dashboard",
    "lam_dashboard",
    "TASKS",
    "get_reward",
    "load_task",
    "weighted_sum",
    "BoundTerms",
    "DiscreteProblem",
    "VarianceSplit",
    "cache_dir",
    "data_dir",
    "dataset_reward_variance",
    "expected_reward",
    "fast_mode",
    "get_device",
    "induced_policy",
    "kl_divergence",
    "lam_grid",
    "load_problem",
    "log_optimal_prompter",
    "log_partition",
    "mean_reward",
    "objective",
    "optimal_prompter",
    "optimal_value",
    "prompt_values",
    "random_problem",
    "response_variance",
    "reward_variance",
    "rlhf_optimal_policy",
    "setup",
    "suboptimality_bound",
    "sweep_metrics",
    "teaching_problem",
    "total_variation",
]
