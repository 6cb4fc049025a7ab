"""Policies and environments for :func:`alignpro_lite.learn.train.train`: the tabular prompter.

The tabular prompter is a softmax table ``rho_θ(x'|x) = softmax_{x'}(θ[x, :])`` over the
candidate rewrites of a :class:`~alignpro_lite.exact.problems.DiscreteProblem`, initialised at
``θ = log rho_sft`` (so training starts at the reference). Candidates with ``rho_sft = 0`` are
masked to ``-inf`` and stay impossible, exactly as in the closed form ``rho*``.

Its environment answers a chosen rewrite with the frozen model and scores the answer against
the ORIGINAL prompt: ``y ~ pi_F(.|x')``, reward ``r(x, y)``. For an estimated table (no
``pi_F``) it draws ``R(x, x') + sqrt(V(x, x')) * ε`` with ``ε ~ N(0, 1)``: a Gaussian with the
table's mean and response variance (a model of the noise, not the real answer distribution).

:func:`train_tabular` ties them together and logs the learning curve against the
closed-form optimum (``objective_exact`` vs ``objective_star``, ``tv_to_optimum``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from alignpro_lite.config import get_device, threads
from alignpro_lite.exact import discrete
from alignpro_lite.exact.problems import DiscreteProblem
from alignpro_lite.exact.validate import check_distribution, positive_scalar
from alignpro_lite.learn.train import TrainResult, train

__all__ = [
    "TabularPrompter",
    "DiscreteEnvironment",
    "tabular_metrics",
    "train_tabular",
    "learning_curve",
    "one_thread",
]


class TabularPrompter(torch.nn.Module):
    """``rho_θ(x'|x) = softmax(θ[x])`` over ``n_c`` candidates; reference ``rho_sft``.

    Args:
        rho_sft: ``(n_x, n_c)`` reference prompter (rows sum to 1); also the initial ``rho``.
        device: torch device (default ``"cpu"``: a table this small is fastest there;
            ``None`` picks :func:`alignpro_lite.config.get_device`).
        dtype: float dtype of ``θ`` (``float64`` keeps the table's arithmetic exact enough to
            compare with the closed form to many digits).

    Batches are lists of prompt indices; actions are a ``(B * k,)`` ``LongTensor`` of
    candidate indices.
    """

    def __init__(
        self, rho_sft: np.ndarray, device: str | None = "cpu", dtype: torch.dtype = torch.float64
    ) -> None:
        super().__init__()
        rho_sft = check_distribution(rho_sft, "rho_sft", ndim=2)
        device = get_device(device)
        support = torch.as_tensor(rho_sft > 0, device=device)
        with np.errstate(divide="ignore"):
            log_sft = torch.as_tensor(np.log(rho_sft), dtype=dtype, device=device)
        self.register_buffer("support", support)  # (n_x, n_c) bool
        self.register_buffer("log_rho_sft", log_sft)  # (n_x, n_c), -inf off the support
        self.theta = torch.nn.Parameter(torch.where(support, log_sft, 0.0))  # (n_x, n_c)

    # the table -------------------------------------------------------------------------
    def log_probs(self, batch=None) -> torch.Tensor:
        """``log rho_θ(.|x)`` for the prompts in ``batch`` (all if ``None``): ``(B, n_c)``."""
        theta = self.theta if batch is None else self.theta[self._index(batch)]
        support = self.support if batch is None else self.support[self._index(batch)]
        return torch.log_softmax(theta.masked_fill(~support, -torch.inf), dim=-1)

    def probs(self) -> np.ndarray:
        """The current prompter ``rho`` as a numpy ``(n_x, n_c)`` table."""
        with torch.no_grad():
            return self.log_probs().exp().cpu().double().numpy()

    def _index(self, batch) -> torch.Tensor:
        return torch.as_tensor(np.asarray(batch, dtype=np.int64), device=self.theta.device)

    # the Policy protocol ----------------------------------------------------------------
    def sample(self, batch, k: int, generator: torch.Generator) -> torch.Tensor:
        """``k`` candidates per prompt, ``x' ~ rho(.|x)``: ``(B * k,)`` prompt-major."""
        p = self.log_probs(batch).exp()  # (B, n_c)
        return torch.multinomial(p, k, replacement=True, generator=generator).reshape(-1)

    def logprob(self, batch, actions: torch.Tensor) -> torch.Tensor:
        """``log rho(x'|x)`` of each action: ``(B * k,)``."""
        logp = self.log_probs(batch)  # (B, n_c)
        k = actions.numel() // len(batch)
        return logp.gather(1, actions.view(len(batch), k)).reshape(-1)

    def ref_logprob(self, batch, actions: torch.Tensor) -> torch.Tensor:
        """``log rho_sft(x'|x)`` of each action: ``(B * k,)``."""
        log_sft = self.log_rho_sft[self._index(batch)]  # (B, n_c)
        k = actions.numel() // len(batch)
        return log_sft.gather(1, actions.view(len(batch), k)).reshape(-1)

    def exact_kl(self, batch) -> torch.Tensor:
        """``KL(rho(.|x) || rho_sft(.|x)) = sum_{x' in supp} rho (log rho - log rho_sft)``: ``(B,)``."""
        idx = self._index(batch)
        logp = self.log_probs(batch)
        diff = torch.where(self.support[idx], logp - self.log_rho_sft[idx], 0.0)
        return (logp.exp() * diff).sum(dim=-1)


class DiscreteEnvironment:
    """Sampled rewards for a :class:`DiscreteProblem`: ``reward_fn(batch, actions, rng)``.

    Full tabular form: ``y ~ pi_F(.|x, x')`` then reward ``r(x, y)`` (scored against the
    original prompt ``x``). Estimated form: ``R(x, x') + sqrt(V(x, x')) * ε``, ``ε ~ N(0, 1)``.
    Either way ``E[reward] = R(x, x')`` and ``Var[reward] = V(x, x')``.
    """

    def __init__(self, problem: DiscreteProblem) -> None:
        self.problem = problem
        if problem.tabular:
            self.cdf = np.cumsum(problem.pi_F, axis=-1)  # (n_x, n_c, n_y)
        else:
            self.R, self.sd = problem.R, np.sqrt(problem.V)

    def __call__(self, batch, actions, rng: np.random.Generator) -> np.ndarray:
        """Rewards ``(B * k,)`` for prompts ``batch`` (``B`` indices) and ``actions`` (``B * k``)."""
        a = torch.as_tensor(actions).cpu().numpy().astype(np.int64)  # (B*k,)
        x = np.repeat(np.asarray(batch, dtype=np.int64), a.size // len(batch))  # (B*k,)
        if self.problem.tabular:
            u = rng.random(a.size)
            cdf = self.cdf[x, a]  # (B*k, n_y)
            y = np.minimum((u[:, None] >= cdf).sum(-1), cdf.shape[-1] - 1)  # inverse CDF
            return self.problem.r[x, y]
        return self.R[x, a] + self.sd[x, a] * rng.standard_normal(a.size)


def tabular_metrics(problem: DiscreteProblem, lam: float):
    """``metrics_fn`` for :func:`train`: exact metrics of the current table vs the optimum.

    Adds ``reward_exact`` (``E_x E_rho R``), ``kl_exact``, ``objective_exact``,
    ``objective_star`` (value at ``rho*``, a constant: the horizontal line of the learning
    curve), ``objective_gap`` (``(star - exact) / |star|``) and ``tv_to_optimum``
    (``E_{x~P} TV(rho, rho*)``).
    """
    lam = positive_scalar(lam, "lam")
    R, P, rho_sft = problem.R, problem.P, problem.rho_sft
    rho_star = problem.optimal_prompter(lam)
    star = float(discrete.objective(rho_star, rho_sft, R, lam, P))

    def metrics(policy: TabularPrompter) -> dict[str, float]:
        rho = policy.probs()
        rho = rho / rho.sum(-1, keepdims=True)  # float rounding only
        reward = float(discrete.mean_reward(rho, R, P))
        kl = float(discrete.kl_divergence(rho, rho_sft) @ P)
        obj = reward - lam * kl
        return {
            "reward_exact": reward,
            "kl_exact": kl,
            "objective_exact": obj,
            "objective_star": star,
            "objective_gap": (star - obj) / abs(star) if star != 0 else star - obj,
            "tv_to_optimum": float(discrete.total_variation(rho, rho_star) @ P),
        }

    return metrics


def one_thread() -> threads:
    """Run torch on one thread inside the block (restored after): ``threads(1)``.

    A table of a few dozen entries gains nothing from parallel kernels, and on a busy
    2-core machine the threads fight: 400 steps took ~15 s on 2 threads and ~1.4 s on 1.
    """
    return threads(1)


def train_tabular(
    problem: DiscreteProblem,
    lam: float,
    *,
    steps: int = 400,
    lr: float = 0.1,
    k: int = 16,
    lr_schedule: str = "cosine",
    kl_estimator: str = "sample",
    seed: int = 0,
    out_dir: str | Path | None = None,
    progress: bool = True,
    **kwargs,
) -> TrainResult:
    """Train a :class:`TabularPrompter` on ``problem`` with sampled rewards.

    The defaults (400 steps, k = 16, Adam lr 0.1 with cosine decay, whole data set per step)
    reach the closed-form optimum of the teaching instance to well under 1 % in objective.
    Extra keyword arguments go to :func:`alignpro_lite.learn.train.train`.

    Returns:
        :class:`TrainResult`; ``result.policy.probs()`` is the learned ``rho`` and
        ``result.metrics`` has the columns of :func:`tabular_metrics`.
    """
    policy = TabularPrompter(problem.rho_sft)
    with one_thread():
        return train(
            policy,
            DiscreteEnvironment(problem),
            list(range(problem.n_x)),
            lam=lam,
            steps=steps,
            lr=lr,
            k=k,
            P=problem.P,
            lr_schedule=lr_schedule,
            kl_estimator=kl_estimator,
            seed=seed,
            out_dir=out_dir,
            metrics_fn=tabular_metrics(problem, lam),
            progress=progress,
            **kwargs,
        )


def learning_curve(result: TrainResult) -> pd.DataFrame:
    """The columns a learning-curve plot needs: ``step``, the batch estimate ``objective``,
    ``objective_exact`` (of the current table), ``objective_star`` (the closed-form optimum,
    plot as a horizontal line) and ``tv_to_optimum``."""
    cols = ["step", "objective", "objective_exact", "objective_star", "tv_to_optimum"]
    df = result.metrics
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise ValueError(
            f"the run has no {missing} columns: train with metrics_fn=tabular_metrics(problem, "
            "lam) (train_tabular does this)."
        )
    return df[cols]
