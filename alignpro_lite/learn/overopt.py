"""Over-optimisation: optimise the prompter against a LEARNED reward, judge it with the GOLD one.

The classic RLHF lesson (Gao, Schulman & Hilton, 2023): a reward model is a proxy. Pushing a
policy harder against the proxy first raises the true ("gold") reward, then the optimiser finds
the proxy's mistakes and the gold reward stalls or falls while the proxy keeps rising. The KL
penalty λ is the brake: it decides how far from the reference the optimiser may go.

In the discrete setting every quantity is exact. From ``n_a`` stored answers per candidate::

    R_proxy(x, x') = 1/n_a sum_k s(x, y_k)       s = the learned Bradley-Terry score
    R_gold(x, x')  = 1/n_a sum_k r(x, y_k)       r = VADER, the reward the labels came from

(the SAME answers for both, so the comparison isolates the reward model's errors). The proxy
scores are cross-fitted (:func:`cross_fit_scores`): the prompts are in folds, and the model that
scores a fold was trained on the other folds' pairs only. For each λ::

    rho*_λ = rho_sft exp(R_proxy / λ) / Z                        optimised against the proxy
    proxy(λ) = E_x E_{rho*_λ} R_proxy      gold(λ) = E_x E_{rho*_λ} R_gold
    KL(λ)    = E_x KL(rho*_λ || rho_sft)

and ``gold(λ)`` against ``KL(λ)`` is the over-optimisation curve.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from alignpro_lite.exact import discrete
from alignpro_lite.exact.problems import DiscreteProblem

__all__ = [
    "AnswerTables",
    "answer_tables",
    "cross_fit_scores",
    "overoptimisation_curve",
]


@dataclass
class AnswerTables:
    """Per-answer rewards of every (prompt, candidate) of a split.

    ``gold`` and ``proxy``: ``(n_x, n_c, n_a)``; ``prompts`` ``(n_x,)``; ``candidates`` and
    ``kinds`` ``(n_x, n_c)`` lists; ``answers`` ``(n_x, n_c, n_a)`` nested lists of texts.
    """

    prompts: list[str]
    candidates: list[list[str]]
    kinds: list[list[str]]
    answers: list[list[list[str]]]
    gold: np.ndarray
    proxy: np.ndarray

    @property
    def R_gold(self) -> np.ndarray:
        """``(n_x, n_c)`` mean gold reward of each candidate's answers."""
        return self.gold.mean(-1)

    @property
    def R_proxy(self) -> np.ndarray:
        """``(n_x, n_c)`` mean learned score of each candidate's answers."""
        return self.proxy.mean(-1)

    def on_topic_rho_sft(self) -> np.ndarray:
        """``(n_x, n_c)``: ``rho_sft`` uniform over each prompt's on-topic candidates (the
        original and the instruction rewrites), 0 on the rewrite that changes the question
        (``kind == "bad"``), so optimising cannot "win" by answering another question."""
        on = np.array([[k != "bad" for k in row] for row in self.kinds], dtype=float)
        if (on.sum(1) == 0).any():
            raise ValueError("a prompt has no on-topic candidate.")
        return on / on.sum(1, keepdims=True)

    def problem(self, which: str = "gold", rho_sft: np.ndarray | None = None) -> DiscreteProblem:
        """An estimated-form :class:`DiscreteProblem` (``R`` = mean, ``V`` = unbiased sample
        variance over the answers) of the ``"gold"`` or ``"proxy"`` reward; ``rho_sft``
        defaults to uniform over the candidates, ``P`` to uniform over the prompts."""
        if which not in ("gold", "proxy"):
            raise ValueError(f"which must be 'gold' or 'proxy', got {which!r}.")
        r = self.gold if which == "gold" else self.proxy
        n_x, n_c, n_a = r.shape
        if rho_sft is None:
            rho_sft = np.full((n_x, n_c), 1.0 / n_c)
        V = r.var(-1, ddof=1) if n_a > 1 else np.zeros((n_x, n_c))
        return DiscreteProblem(
            rho_sft=rho_sft,
            P=np.full(n_x, 1.0 / n_x),
            R_table=r.mean(-1),
            V_table=V,
            se=np.sqrt(V / n_a),
            r_range=(float(r.min()), float(r.max())),
            prompts=list(self.prompts),
            candidates=[list(c) for c in self.candidates],
            name=f"kindness ({which} reward, {n_a} answers per rewrite)",
        )


def cross_fit_scores(data, prepare=None, **fit_kwargs) -> pd.Series:
    """Out-of-fold learned scores of every stored answer (cross-fitting by prompt).

    For each fold ``f`` a reward model is fitted on the pairs of the OTHER folds (optionally
    transformed by ``prepare``, e.g. ``lambda d: d.subsample(100).with_label_noise(0.2)``) and
    scores the answers of fold ``f``: no answer is scored by a model that saw its prompt's
    pairs. ``fit_kwargs`` go to :func:`~alignpro_lite.learn.reward_model.fit_bradley_terry`.

    Returns:
        a Series of scores indexed by answer id.
    """
    from alignpro_lite.learn.reward_model import embed_with_table, fit_bradley_terry

    folds = sorted(set(data.answers["fold"]))
    if len(folds) < 2:
        raise ValueError(f"cross-fitting needs at least 2 folds, the data has {folds}.")
    parts = []
    for f in folds:
        train = data.by_fold([g for g in folds if g != f])
        if prepare is not None:
            train = prepare(train)
        rm = fit_bradley_terry(train, **fit_kwargs)
        a = data.answers[data.answers["fold"] == f]
        s = rm.score_embeddings(
            embed_with_table(data.embeddings, a["prompt"].tolist()),
            embed_with_table(data.embeddings, a["answer"].tolist()),
        )
        parts.append(pd.Series(s, index=a.index))
    return pd.concat(parts).loc[data.answers.index]


def answer_tables(data, proxy=None) -> AnswerTables:
    """Arrange the stored answers as ``(n_x, n_c, n_a)`` tables of gold and proxy rewards.

    Args:
        data: a :class:`~alignpro_lite.learn.reward_model.PreferenceData` (or one of its folds)
            whose prompts were answered for every candidate (6 candidates x ``n_a`` answers).
        proxy: per-answer learned scores - a Series indexed by answer id (e.g. from
            :func:`cross_fit_scores`), or a reward model (``score_embeddings``) that scores
            every answer; ``None`` gives zeros.
    """
    a = data.answers
    if a.empty:
        raise ValueError("data has no answers.")
    a = a.sort_values(["prompt_id", "candidate"], kind="stable")
    grid = a.groupby(["prompt_id", "candidate"]).size()
    n_a = int(grid.iloc[0])
    n_c_per = a.groupby("prompt_id")["candidate"].nunique()
    if (grid != n_a).any() or n_c_per.nunique() != 1:
        raise ValueError(
            f"the answers are not a full grid (candidates per prompt {sorted(set(n_c_per))}, "
            f"answers per candidate {sorted(set(grid))})."
        )
    pids = list(dict.fromkeys(a["prompt_id"]))
    n_x, n_c = len(pids), int(n_c_per.iloc[0])
    gold = a["gold"].to_numpy(float).reshape(n_x, n_c, n_a)
    if proxy is None:
        s = np.zeros(len(a))
    elif isinstance(proxy, pd.Series):
        missing = set(a.index) - set(proxy.index)
        if missing:
            raise ValueError(f"proxy has no score for {len(missing)} answers.")
        s = proxy.loc[a.index].to_numpy(float)
    else:
        from alignpro_lite.learn.reward_model import embed_with_table

        s = proxy.score_embeddings(
            embed_with_table(data.embeddings, a["prompt"].tolist()),
            embed_with_table(data.embeddings, a["answer"].tolist()),
        )
    first = a.groupby(["prompt_id", "candidate"], sort=False).first()
    return AnswerTables(
        prompts=[first.loc[(p, 0), "prompt"] for p in pids],
        candidates=first["rewrite"].to_numpy().reshape(n_x, n_c).tolist(),
        kinds=first["kind"].to_numpy().reshape(n_x, n_c).tolist(),
        answers=a["answer"].to_numpy().reshape(n_x, n_c, n_a).tolist(),
        gold=gold,
        proxy=s.reshape(n_x, n_c, n_a),
    )


def overoptimisation_curve(
    rho_sft: np.ndarray,
    R_proxy: np.ndarray,
    R_gold: np.ndarray,
    lams: np.ndarray,
    P: np.ndarray | None = None,
) -> pd.DataFrame:
    """Proxy and gold reward of ``rho*_λ`` (optimised against ``R_proxy``), for each λ.

    Args:
        rho_sft, R_proxy, R_gold: ``(n_x, n_c)``; lams: ``(L,)`` λ > 0; P: ``(n_x,)``.

    Returns:
        one row per λ (sorted from large λ = little optimisation to small λ = a lot):
        ``lam, kl, proxy, gold`` and ``gold_gain`` (``gold - gold of rho_sft``), plus
        ``gold_best`` (the gold reward of ``rho*`` optimised against ``R_gold`` itself at the
        same λ: the ceiling a perfect reward model would give).
    """
    lams = np.sort(np.atleast_1d(np.asarray(lams, dtype=float)))[::-1]
    if lams.ndim != 1 or lams.size == 0 or not (np.isfinite(lams) & (lams > 0)).all():
        raise ValueError("lams must be a non-empty 1-D array of finite λ > 0.")
    if np.shape(R_proxy) != np.shape(rho_sft) or np.shape(R_gold) != np.shape(rho_sft):
        raise ValueError(
            f"rho_sft, R_proxy and R_gold must share the shape (n_x, n_c), got "
            f"{np.shape(rho_sft)}, {np.shape(R_proxy)}, {np.shape(R_gold)}."
        )
    n_x = np.shape(rho_sft)[0]
    P = np.full(n_x, 1.0 / n_x) if P is None else np.asarray(P, dtype=float)
    rho = discrete.optimal_prompter(rho_sft, R_proxy, lams)  # (L, n_x, n_c)
    rho_best = discrete.optimal_prompter(rho_sft, R_gold, lams)
    gold_sft = float(discrete.mean_reward(rho_sft, R_gold, P))
    df = pd.DataFrame(
        {
            "lam": lams,
            "kl": discrete.kl_divergence(rho, rho_sft) @ P,
            "proxy": (rho * R_proxy).sum(-1) @ P,
            "gold": (rho * R_gold).sum(-1) @ P,
            "gold_best": (rho_best * R_gold).sum(-1) @ P,
        }
    )
    df["gold_gain"] = df["gold"] - gold_sft
    return df
