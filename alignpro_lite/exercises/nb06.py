"""Exercises of notebook 06 (the Bradley-Terry reward model and over-optimisation).

The reference solutions are functions of the shipped ``data/preferences/`` files.
"""

from __future__ import annotations

import numpy as np

from alignpro_lite.exercises.registry import Exercise, register


def _sol_06_1():
    from alignpro_lite.learn.reward_model import load_preferences, load_reward_model

    test = load_preferences("kindness").split("test")
    e_x, e_w, e_l = test.pair_embeddings()
    rm = load_reward_model()
    return float(np.mean(rm.score_embeddings(e_x, e_w) > rm.score_embeddings(e_x, e_l)))


def _sol_06_2():
    from alignpro_lite.learn.reward_model import load_preferences

    test = load_preferences("kindness").split("test")
    return float(1.0 - test.pairs["flipped"].mean())


def _sol_06_3():
    from alignpro_lite.learn.overopt import answer_tables, cross_fit_scores
    from alignpro_lite.learn.reward_model import load_preferences

    data = load_preferences("kindness")
    t = answer_tables(data, cross_fit_scores(data, seed=0))
    return int((t.R_proxy.argmax(1) != t.R_gold.argmax(1)).sum())


register(
    Exercise(
        "06.1",
        "Held-out accuracy of the shipped reward model, by hand: for every pair of the test "
        "split, score the chosen and the rejected answer with shipped.score_embeddings and "
        "count how often s(x, y_w) > s(x, y_l). Answer: one number (a fraction).",
        "test_pairs.pair_embeddings() gives (e_x, e_w, e_l); compare "
        "shipped.score_embeddings(e_x, e_w) with shipped.score_embeddings(e_x, e_l); np.mean.",
        _sol_06_1,
        rtol=1e-9,
    ),
    Exercise(
        "06.2",
        "The noise ceiling: what accuracy against the RECORDED labels of the held-out pairs "
        "would a reward model get if it ordered every pair exactly like the gold reward? "
        "Answer: one number (a fraction).",
        "The gold order disagrees with the recorded label exactly on the flipped pairs: "
        "test_pairs.pairs['flipped'].",
        _sol_06_2,
        rtol=1e-9,
    ),
    Exercise(
        "06.3",
        "With the cross-fitted scores of the reward model trained on all pairs "
        "(proxies['BT reward model (all pairs)']), on how many of the 30 prompts is the "
        "rewrite with the highest learned value R_proxy NOT the rewrite with the highest gold "
        "value R_gold? (That is where λ → 0 gives up gold reward.) Answer: an integer.",
        "t = overopt.answer_tables(data, scores); compare t.R_proxy.argmax(1) with "
        "t.R_gold.argmax(1).",
        _sol_06_3,
        rtol=0.0,
        atol=0.0,
    ),
)
