r"""What a prompter cannot reach: the policies of a frozen model form a convex hull.

A prompter only chooses *which* rewrite the frozen model sees, so every prompted policy is a
mixture of the frozen model's rows:

.. math::

    \pi_\rho(y \mid x) = \sum_{x'} \rho(x' \mid x)\, \pi_F(y \mid x')
    \;\in\; \operatorname{conv}\{\pi_F(\cdot \mid x') : x' \in \operatorname{supp} \rho_{\text{sft}}(\cdot \mid x)\}

(:func:`reachable_vertices`). RLHF's optimum ``pi*_β ∝ pi_ref exp(r/β)`` is not so limited: as
β → 0 it moves to the best response, which may lie outside the hull, while Align-Pro's
``pi_{rho*_λ}`` always stays inside. :func:`tv_to_reachable` measures how far a policy is
from the hull (a small linear program per prompt) and :func:`closest_prompter` returns the
prompter that gets closest; :func:`three_response_problem` is a hand-made instance with three
responses, drawn as a triangle by :func:`alignpro_lite.ui.plots.plot_reachable_simplex`.
"""

from __future__ import annotations

import numpy as np

from alignpro_lite.exact.discrete import induced_policy, total_variation
from alignpro_lite.exact.problems import DiscreteProblem
from alignpro_lite.exact.validate import check_distribution, check_shape

__all__ = [
    "reachable_vertices",
    "tv_to_reachable",
    "closest_prompter",
    "three_response_problem",
]


def _check_args(pi_F, rho_sft):
    pi_F = check_distribution(pi_F, "pi_F", ndim=3)
    if rho_sft is None:
        support = np.ones(pi_F.shape[:2], dtype=bool)
    else:
        rho_sft = check_distribution(rho_sft, "rho_sft", ndim=2)
        check_shape(rho_sft, pi_F.shape[:2], "rho_sft", "(n_x, n_c) matching pi_F")
        support = rho_sft > 0
    return pi_F, support


def reachable_vertices(pi_F, rho_sft=None) -> list[np.ndarray]:
    """Per prompt, the rows ``pi_F(.|x')`` of the candidates a prompter may use.

    Args:
        pi_F: ``(n_x, n_c, n_y)``.
        rho_sft: ``(n_x, n_c)``; only candidates in its support count (a prompter with
            ``rho ∝ rho_sft exp(θ)`` cannot use the others). ``None``: every candidate.

    Returns:
        A list of ``n_x`` arrays ``(k_x, n_y)``: the rows of candidates
        ``np.flatnonzero(rho_sft[x] > 0)`` in increasing order. Every prompted policy
        ``pi_rho(.|x)`` lies in their convex hull, and every point of the hull is one.
    """
    pi_F, support = _check_args(pi_F, rho_sft)
    return [pi_F[x, support[x]] for x in range(pi_F.shape[0])]


def closest_prompter(pi, pi_F, rho_sft=None) -> tuple[np.ndarray, np.ndarray]:
    """The prompter whose policy is closest to ``pi`` in total variation, and that distance.

    Per prompt, a linear program (``scipy.optimize.linprog``, HiGHS) over the mixture weights
    ``w`` of the reachable rows ``V`` (:func:`reachable_vertices`) and slacks ``t``::

        min ½ sum_y t_y   s.t.   -t <= pi(.|x) - V^T w <= t,   w >= 0,   sum w = 1.

    Args:
        pi: ``(n_x, n_y)`` target policy; pi_F: ``(n_x, n_c, n_y)``;
        rho_sft: ``(n_x, n_c)`` whose support the prompter must stay in (``None``: all).

    Returns:
        ``(rho, tv)``: ``rho`` ``(n_x, n_c)`` (0 off the support), and ``tv`` ``(n_x,)`` =
        ``TV(pi, pi_rho)`` of that ``rho``: 0 (to the solver's tolerance, about 1e-9) exactly
        when ``pi(.|x)`` is reachable.
    """
    from scipy.optimize import linprog  # imported on use: keeps `import alignpro_lite` fast

    pi_F, support = _check_args(pi_F, rho_sft)
    pi = check_distribution(pi, "pi", ndim=2)
    n_x, n_c, n_y = pi_F.shape
    check_shape(pi, (n_x, n_y), "pi", "(n_x, n_y) matching pi_F")
    rho = np.zeros((n_x, n_c))
    for x in range(n_x):
        idx = np.flatnonzero(support[x])
        V = pi_F[x, idx]  # (k, n_y)
        k = len(idx)
        cost = np.r_[np.zeros(k), np.full(n_y, 0.5)]
        eye = np.eye(n_y)
        A_ub = np.block([[V.T, -eye], [-V.T, -eye]])
        b_ub = np.r_[pi[x], -pi[x]]
        A_eq = np.r_[np.ones(k), np.zeros(n_y)][None, :]
        res = linprog(cost, A_ub=A_ub, b_ub=b_ub, A_eq=A_eq, b_eq=[1.0], bounds=(0, None),
                      method="highs")  # fmt: skip
        if res.status != 0:  # pragma: no cover - the LP is always feasible and bounded
            raise RuntimeError(f"linprog failed on prompt {x}: {res.message}")
        w = np.clip(res.x[:k], 0.0, None)
        rho[x, idx] = w / w.sum()
    tv = total_variation(pi, induced_policy(rho, pi_F))
    return rho, tv


def tv_to_reachable(pi, pi_F, rho_sft=None) -> np.ndarray:
    """``min_rho TV(pi(.|x), pi_rho(.|x))`` over prompters with support in ``supp rho_sft``.

    Shape ``(n_x,)``; 0 (to about 1e-9) exactly when ``pi(.|x)`` is a prompted policy. For
    every response set ``A``, ``tv >= pi(A|x) - max_{x'} pi_F(A|x')`` (a prompted policy gives
    ``A`` at most the largest probability any rewrite gives it). See :func:`closest_prompter`.
    """
    return closest_prompter(pi, pi_F, rho_sft)[1]


# --------------------------------------------------------------------------- a small instance
def three_response_problem() -> DiscreteProblem:
    """One prompt, four candidate rewrites, three responses: the picture of what a prompter
    cannot reach (notebook-sized; draw it with ``plot_reachable_simplex``).

    Responses and rewards: ``refuses`` (0.3), ``helpful`` (1.0), ``harmful`` (0.0). The frozen
    model's rows ``pi_F(.|x')`` (refuses, helpful, harmful):

    ====  =====================  ================  =========  =====
    c     rewrite                pi_F              rho_sft    R
    ====  =====================  ================  =========  =====
    c0    the original prompt    .30  .50  .20     .40        .590
    c1    asks for safe steps    .25  .70  .05     .20        .775
    c2    asks if it is risky    .70  .25  .05     .20        .460
    c3    asks for the fastest   .10  .45  .45     .20        .480
    ====  =====================  ================  =========  =====

    c1, c2, c3 span a triangle strictly inside the simplex and c0 (``pi_ref``) lies inside
    it. No rewrite makes ``helpful`` more likely than 0.7, so Align-Pro's best is c1 (reward
    0.775 as λ → 0), while RLHF's ``pi*_β`` heads for the ``helpful`` corner (reward → 1) and
    leaves the hull as β → 0.
    """
    prompt = "How do I get rid of the wasp nest by my front door?"
    return DiscreteProblem(
        rho_sft=np.array([[0.4, 0.2, 0.2, 0.2]]),
        P=np.array([1.0]),
        pi_F=np.array(
            [
                [
                    [0.30, 0.50, 0.20],
                    [0.25, 0.70, 0.05],
                    [0.70, 0.25, 0.05],
                    [0.10, 0.45, 0.45],
                ]
            ]
        ),
        r=np.array([[0.3, 1.0, 0.0]]),
        r_range=(0.0, 1.0),
        prompts=[prompt],
        candidates=[
            [
                prompt,
                "What is the safest way to remove a wasp nest near my door, step by step?",
                "Is it dangerous to go near a wasp nest?",
                "Fastest way to destroy a wasp nest, whatever it takes?",
            ]
        ],
        responses=[["refuses", "helpful", "harmful"]],
        name="three responses",
        description=(
            "One prompt, four rewrites, three responses (refuses 0.3, helpful 1.0, harmful 0.0): "
            "the rewrites' response distributions span a triangle inside the simplex, so the "
            "helpful corner that RLHF heads for is out of a prompter's reach."
        ),
    )
