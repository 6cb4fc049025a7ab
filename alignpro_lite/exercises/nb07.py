"""Exercises of notebook 07 (the generative prompter). The reference solutions are functions
of the shipped replication under ``runs/`` (its sample bank), so they cannot go stale."""

from __future__ import annotations

from alignpro_lite.config import repo_root
from alignpro_lite.exercises.registry import Exercise, register


def _runs():
    return repo_root() / "runs"


def _sol_07_1():
    import torch

    from alignpro_lite.learn.train import rloo_advantages

    s = torch.tensor([[0.2, 0.5, 0.8, 0.1]], dtype=torch.float64)
    return rloo_advantages(s).numpy()[0]


def _sol_07_2():
    import numpy as np

    from alignpro_lite.exact.distill import effective_sample_size, snis_weights
    from alignpro_lite.experiment.replicate import preregistered_weights
    from alignpro_lite.learn.bank import load_bank, rewrite_values

    v = rewrite_values(load_bank(_runs() / "bank" / "kindness"))
    first = v[(v["prompt_id"] == 0) & ~v["heldout"]]
    w = snis_weights(first["R_hat"].to_numpy(), preregistered_weights("kindness")[0])
    return np.append(w, effective_sample_size(w))


register(
    Exercise(
        "07.1",
        "Leave-one-out advantages by hand: one prompt, k = 4 sampled (penalised) rewards "
        "s = [0.2, 0.5, 0.8, 0.1]. Compute A_i = s_i - mean of the OTHER three, without "
        "apl.learn.train.rloo_advantages. Answer: an array of 4 numbers (they sum to 0).",
        "Baseline of sample i: (s.sum() - s[i]) / (k - 1).",
        _sol_07_1,
    ),
    Exercise(
        "07.2",
        "Route (b) by hand: take the 12 fit rewrites (not the held-out ones) of the FIRST kindness "
        "prompt (prompt_id 0) of the shipped bank, their values R_hat (apl.learn.bank.rewrite_values"
        "(apl.learn.bank.load_bank('runs/bank/kindness'))), and the preregistered λ "
        "(apl.experiment.preregistered_weights('kindness')[0]). Compute the self-normalised weights "
        "w_j = exp(R_j/λ) / sum_k exp(R_k/λ) without apl.exact.distill, and their effective sample "
        "size 1/sum w_j². Answer: an array of 13 numbers, the 12 weights (in the bank's order) "
        "followed by the ESS.",
        "Subtract the maximum of R/λ before exponentiating (R/λ can exceed 700 for small λ). "
        "np.append(w, 1 / (w**2).sum()).",
        _sol_07_2,
        rtol=1e-6,
    ),
)
