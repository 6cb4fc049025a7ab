"""The exact theory on finite prompt sets (notebooks 01–02): the closed form ``rho*``, its
metrics, the λ sweep, the bound, reweighting samples of ``rho_sft`` into ``rho*`` (``distill``) and fitting the ratio by
noise-contrastive alignment (``nca``),
DPO on tables (``dpo``), the reward–KL frontier of Align-Pro, RLHF and best-of-n (``frontier``),
what a prompter cannot reach (``reachable``), and the problem files they run on. numpy/scipy."""

from alignpro_lite.exact import (
    discrete,
    distill,
    dpo,
    frontier,
    nca,
    problems,
    reachable,
    schema,
    sweep,
    validate,
)

__all__ = [
    "discrete",
    "distill",
    "dpo",
    "frontier",
    "nca",
    "problems",
    "reachable",
    "schema",
    "sweep",
    "validate",
]
