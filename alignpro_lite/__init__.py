"""alignpro-lite: learn and reproduce Align-Pro (AAAI 2025) on a laptop CPU.

Align a *frozen* LLM ``pi_F`` by optimising the prompter ``rho(x'|x)`` that rewrites its input.
The closed-form optimum is ``rho*(x'|x) ∝ rho_sft(x'|x) exp(R(x,x')/λ)``.

    import alignpro_lite as apl
    cfg = apl.setup()                             # seeds, plot style, device, fast mode
    R   = apl.prompt_values(pi_F, r)              # (n_x, n_c)
    rho = apl.optimal_prompter(rho_sft, R, lam)   # (n_x, n_c) or (L, n_x, n_c)
    pi  = apl.induced_policy(rho, pi_F)           # (n_x, n_y)
    kl  = apl.kl_divergence(p, q)                 # reduces the last axis

Modules that need torch/transformers (``lm``, ``rewards``, ``estimate``, ``train``) are
imported on first use, so the discrete notebooks start instantly.
"""

from alignpro_lite import exercises, plots, widgets  # noqa: E402
from alignpro_lite.config import cache_dir, data_dir, fast_mode, get_device, setup
from alignpro_lite.discrete import (
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
from alignpro_lite.problems import DiscreteProblem, load_problem, random_problem, teaching_problem
from alignpro_lite.rewards import get_reward, weighted_sum
from alignpro_lite.sweep import lam_grid, sweep_metrics
from alignpro_lite.tasks import TASKS, load_task

_LAZY_MODULES = {
    "lm",
    "estimate",
    "train",
    "policies",
    "semantics",
    "reward_model",
    "generative",
    "evaluate",
    "overopt",
    "tables",
    "experiment",
}


def __getattr__(name: str):
    """Torch-backed submodules (``apl.lm``, ``apl.train``, ...) load on first use."""
    if name in _LAZY_MODULES:
        import importlib

        return importlib.import_module(f"alignpro_lite.{name}")
    raise AttributeError(f"module 'alignpro_lite' has no attribute {name!r}")


__version__ = "0.1.0"

__all__ = [
    "TASKS",
    "get_reward",
    "load_task",
    "weighted_sum",
    "exercises",
    "plots",
    "widgets",
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
