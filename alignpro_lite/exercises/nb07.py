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


def _snis_table_truth(c, R_hat, lam, n_c):
    import numpy as np

    w = np.exp((R_hat - R_hat.max()) / lam)
    w /= w.sum()
    return np.bincount(c, weights=w, minlength=n_c)


def _verify_07_3(fit) -> tuple[bool, str]:
    import numpy as np

    from alignpro_lite.exercises.registry import returned

    rng = np.random.default_rng(707)
    done = 0
    for _ in range(10):
        n_c = int(rng.integers(2, 7))
        N = int(rng.integers(2, 30))
        c = rng.integers(0, n_c, size=N)
        R_hat = rng.normal(size=N)
        lam = float(10 ** rng.uniform(-1.5, 1))
        got = np.asarray(returned(fit(c.copy(), R_hat.copy(), lam, n_c)), dtype=float)
        want = _snis_table_truth(c, R_hat, lam, n_c)
        if got.shape != (n_c,) or not np.allclose(got, want, atol=1e-9):
            return False, (f"on N={N} samples of {n_c} candidates at λ={lam:.3g} the fit is "
                           f"{np.round(got, 4).tolist()}, expected {np.round(want, 4).tolist()} "
                           f"({done} cases passed before)")  # fmt: skip
        done += 1
    return True, f"the weighted MLE over a table matches on {done} random banks"


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
    Exercise(
        "07.3",
        "Route (b) on a table, by hand: N rewrites c_j (candidate indices, drawn from rho_sft) "
        "with values R_hat_j. Write fit(c, R_hat, lam, n_c) -> the (n_c,) table prompter that "
        "maximises the weighted log-likelihood sum_j w_j log rho(c_j), w = softmax(R_hat/lam) over "
        "the N rows. Then (in the notebook) average it over many banks and compare with rho*: "
        "the self-normalised weights make it biased at finite N. Answer: your function.",
        "Maximise sum_c W_c log rho(c) with W_c = sum of the w_j of the rows with c_j = c, subject "
        "to sum rho = 1 (a Lagrange multiplier, or Gibbs' inequality): rho(c) = W_c. np.bincount "
        "with weights does it in one line; subtract max(R_hat) before exp for stability.",
        verify=_verify_07_3,
    ),
)
