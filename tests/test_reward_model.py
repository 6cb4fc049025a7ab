"""The Bradley-Terry reward model (reward_model.py) and the over-optimisation study (overopt.py).

Fast: everything runs from the shipped pairs, embeddings and head (no encoder, no LLM).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from alignpro_lite.exact import discrete
from alignpro_lite.learn.overopt import answer_tables, cross_fit_scores, overoptimisation_curve
from alignpro_lite.learn.reward_model import (
    METRICS_FILE,
    BradleyTerryReward,
    PreferenceData,
    bradley_terry_loss,
    evaluate_reward_model,
    expected_calibration_error,
    features,
    fit_bradley_terry,
    load_preferences,
    load_reward_model,
    preferences_dir,
    reliability_table,
)


@pytest.fixture(scope="module")
def data():
    return load_preferences("kindness")


@pytest.fixture(scope="module")
def shipped():
    return load_reward_model()


# --------------------------------------------------------------------------- the data
def test_pairs_are_split_by_prompt_and_labelled_by_gold(data):
    train, test = data.split("train"), data.split("test")
    assert len(train) >= 300 and len(test) >= 300
    assert not set(train.pairs["prompt_id"]) & set(test.pairs["prompt_id"])  # held-out prompts
    a = data.answers
    for df in (train.pairs, test.pairs):
        # both answers of a pair answer the same ORIGINAL prompt
        assert (a.loc[df["chosen"], "prompt_id"].values == df["prompt_id"].values).all()
        assert (a.loc[df["rejected"], "prompt_id"].values == df["prompt_id"].values).all()
        # the label is the gold order, except where documented as flipped
        gold_w = a.loc[df["chosen"], "gold"].values
        gold_l = a.loc[df["rejected"], "gold"].values
        assert ((gold_w > gold_l) != df["flipped"].values).all()
    rate = data.pairs["flipped"].mean()
    assert 0.05 < rate < 0.15  # documented noise rate: 10 %


def test_gold_rewards_are_vader(data):
    from alignpro_lite.llm.rewards import get_reward

    a = data.answers.iloc[:: max(1, len(data.answers) // 40)]
    gold = get_reward("kindness")(a["prompt"].tolist(), a["answer"].tolist())
    np.testing.assert_allclose(a["gold"].to_numpy(), gold, atol=1e-4)


# --------------------------------------------------------------------------- held-out quality
def test_shipped_head_beats_chance_on_held_out_pairs(data, shipped):
    ev = evaluate_reward_model(shipped, data.split("test"))
    # 601 held-out pairs: chance is 0.50 +- 0.02; the noise ceiling is ~0.90 (labels) / 1.0 (gold)
    assert ev.accuracy > 0.62, ev.summary()
    assert ev.gold_accuracy > 0.68, ev.summary()
    shipped_metrics = json.loads((preferences_dir() / METRICS_FILE).read_text())["test"]
    assert ev.summary()["accuracy"] == pytest.approx(shipped_metrics["accuracy"], abs=1e-3)
    assert 0 <= ev.ece < 0.15


def test_retrained_head_beats_chance_and_is_deterministic(data):
    train, test = data.split("train"), data.split("test")
    rm = fit_bradley_terry(train, seed=1)
    ev = evaluate_reward_model(rm, test)
    assert ev.accuracy > 0.62 and ev.gold_accuracy > 0.68, ev.summary()
    rm2 = fit_bradley_terry(train, seed=1)
    e_x, e_w, _ = test.pair_embeddings()
    np.testing.assert_allclose(rm.score_embeddings(e_x, e_w), rm2.score_embeddings(e_x, e_w))


def test_labels_shuffled_give_chance(data):
    """The held-out accuracy is a real signal: random labels learn nothing that transfers."""
    train = data.split("train").with_label_noise(0.5, seed=3)  # each label a coin flip
    rm = fit_bradley_terry(train, epochs=150)
    assert abs(evaluate_reward_model(rm, data.split("test")).gold_accuracy - 0.5) < 0.1


# --------------------------------------------------------------------------- the loss
def test_bt_loss_value_and_gradient():
    s_w = torch.tensor([2.0, -1.0, 0.5], dtype=torch.float64, requires_grad=True)
    s_l = torch.tensor([0.0, 1.0, 0.5], dtype=torch.float64, requires_grad=True)
    loss = bradley_terry_loss(s_w, s_l)
    d = (s_w - s_l).detach()
    assert float(loss.detach()) == pytest.approx(float(-torch.log(torch.sigmoid(d)).mean()))
    loss.backward()
    expected = -(1 - torch.sigmoid(d)) / 3  # dL/ds_w
    torch.testing.assert_close(s_w.grad, expected)
    torch.testing.assert_close(s_l.grad, -expected)
    assert torch.autograd.gradcheck(
        bradley_terry_loss, (s_w.detach().requires_grad_(), s_l.detach().requires_grad_())
    )


def test_bt_loss_is_stable_for_huge_margins():
    s_w = torch.tensor([1e4, -1e4], dtype=torch.float32)
    loss = bradley_terry_loss(s_w, torch.zeros(2))
    assert torch.isfinite(loss) and float(loss) == pytest.approx(1e4 / 2)


def test_fit_recovers_a_planted_linear_score():
    rng = np.random.default_rng(0)
    d, n = 8, 600
    unit = lambda a: a / np.linalg.norm(a, axis=1, keepdims=True)  # noqa: E731
    e_x, y1, y2 = (unit(rng.normal(size=(n, d))) for _ in range(3))
    w = rng.normal(size=d)
    win = (y1 @ w) > (y2 @ w)
    e_w, e_l = np.where(win[:, None], y1, y2), np.where(win[:, None], y2, y1)
    rm = fit_bradley_terry((e_x, e_w, e_l), epochs=400, lr=0.05, weight_decay=0.0)
    test = unit(rng.normal(size=(400, d)))
    s = rm.score_embeddings(np.repeat(test[:1], 400, 0), test)
    assert np.corrcoef(s, test @ w)[0, 1] > 0.95


# --------------------------------------------------------------------------- the reward object
def test_reward_object_signature_and_range(data, shipped):
    assert shipped.name and isinstance(shipped.version, str) and shipped.r_min < shipped.r_max
    a = data.answers.iloc[:50]
    r = shipped(a["prompt"].tolist(), a["answer"].tolist())  # shipped embeddings: no encoder
    assert r.shape == (50,) and np.isfinite(r).all()
    assert (r > shipped.r_min).all() and (r < shipped.r_max).all()  # provable range, no clipping
    e_x, e_y = (np.stack([data.embeddings[t] for t in a[c]]) for c in ("prompt", "answer"))
    np.testing.assert_allclose(r, shipped.score_embeddings(e_x, e_y))


def test_provable_range_holds_on_extreme_unit_vectors(shipped):
    rng = np.random.default_rng(1)
    d = shipped.dim
    e = rng.normal(size=(2000, d))
    e /= np.linalg.norm(e, axis=1, keepdims=True)
    s = shipped.score_embeddings(e, e[::-1])
    assert shipped.r_min <= s.min() and s.max() <= shipped.r_max


@pytest.mark.parametrize("hidden", [0, 16])
def test_save_load_round_trip(tmp_path, data, hidden):
    rm = fit_bradley_terry(data.split("train").subsample(100), hidden=hidden, epochs=20)
    path = rm.save(tmp_path / "head.npz")
    back = BradleyTerryReward.load(path)
    assert back.version == rm.version and back.meta == rm.meta and back.hidden == hidden
    assert (back.r_min, back.r_max) == (rm.r_min, rm.r_max)
    e_x, e_w, e_l = data.split("test").subsample(50).pair_embeddings()
    np.testing.assert_array_equal(back.score_embeddings(e_x, e_w), rm.score_embeddings(e_x, e_w))


# --------------------------------------------------------------------------- bad arguments
def test_bad_arguments(tmp_path, data):
    e = np.ones((4, 8)) / np.sqrt(8)
    with pytest.raises(ValueError, match="no preference pairs"):
        fit_bradley_terry((e[:0], e[:0], e[:0]))
    with pytest.raises(ValueError, match="no preference pairs"):
        fit_bradley_terry(PreferenceData(data.answers, data.pairs.iloc[:0], data.embeddings))
    with pytest.raises(ValueError, match="same shape"):
        fit_bradley_terry((e, e, e[:3]))
    bad = e.copy()
    bad[1, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        fit_bradley_terry((e, bad, e))
    with pytest.raises(ValueError, match="hidden"):
        fit_bradley_terry((e, e, e), hidden=-1)
    with pytest.raises(ValueError, match="same shape"):
        features(e, e[:2])
    with pytest.raises(ValueError, match="non-empty"):
        bradley_terry_loss(torch.zeros(0), torch.zeros(0))
    with pytest.raises(ValueError, match="does not exist"):
        BradleyTerryReward.load(tmp_path / "missing.npz")
    with pytest.raises(ValueError, match="split"):
        data.split("validation")
    with pytest.raises(ValueError, match="rate"):
        data.with_label_noise(1.5)
    with pytest.raises(ValueError, match="prompts and responses"):
        load_reward_model()(["a", "b"], ["c"])
    with pytest.raises(ValueError, match="probabilities"):
        reliability_table(np.array([0.2, np.nan]), np.array([0, 1]))
    with pytest.raises(ValueError, match="lams"):
        overoptimisation_curve(np.full((2, 3), 1 / 3), np.zeros((2, 3)), np.zeros((2, 3)), [-1.0])


# --------------------------------------------------------------------------- calibration
def test_ece_of_a_calibrated_predictor_is_small_and_of_an_overconfident_one_large():
    rng = np.random.default_rng(0)
    p = rng.uniform(0, 1, 20000)
    y = (rng.random(p.size) < p).astype(float)
    assert expected_calibration_error(p, y) < 0.02
    p_over = np.where(p > 0.5, 0.999, 0.001)  # right side, wrong confidence
    assert expected_calibration_error(p_over, y) > 0.2
    table = reliability_table(p, y)
    assert table["count"].sum() == p.size


# --------------------------------------------------------------------------- over-optimisation
def test_cross_fitting_scores_each_fold_with_a_model_that_never_saw_it(data, shipped):
    scores = cross_fit_scores(data)
    assert list(scores.index) == list(data.answers.index)
    # fold 0 = the test split; its model is fitted on folds 1-2 = the train split = the shipped head
    a = data.answers[data.answers["fold"] == 0]
    e_x, e_y = (np.stack([data.embeddings[t] for t in a[c]]) for c in ("prompt", "answer"))
    np.testing.assert_allclose(scores.loc[a.index], shipped.score_embeddings(e_x, e_y), atol=1e-5)
    with pytest.raises(ValueError, match="folds"):
        data.by_fold([7])


def test_answer_tables_and_curve(data, shipped):
    t = answer_tables(data, shipped)
    n_x, n_c, n_a = t.gold.shape
    assert (n_x, n_c) == (30, 6) and n_a == 2 and t.proxy.shape == t.gold.shape
    assert all(c[0] == x for c, x in zip(t.candidates, t.prompts))  # candidate 0 = original
    assert all(k[0] == "original" and k[-1] == "bad" for k in t.kinds)
    rho_sft = np.full((n_x, n_c), 1 / n_c)
    df = overoptimisation_curve(rho_sft, t.R_proxy, t.R_gold, np.geomspace(1e-3, 1e2, 30))
    # λ large: nothing moves; the proxy reward and the KL rise monotonically as λ falls
    assert df["kl"].iloc[0] < 1e-3 and abs(df["gold_gain"].iloc[0]) < 1e-3
    assert (np.diff(df["proxy"]) >= -1e-12).all() and (np.diff(df["kl"]) >= -1e-12).all()
    # optimising the gold reward itself is the ceiling of the gold OBJECTIVE at every λ
    lam = df["lam"].to_numpy()
    kl_best = discrete.kl_divergence(discrete.optimal_prompter(rho_sft, t.R_gold, lam), rho_sft)
    obj_best = df["gold_best"] - lam * kl_best.mean(-1)
    assert (obj_best >= df["gold"] - lam * df["kl"] - 1e-9).all()
    problem = t.problem("gold")
    np.testing.assert_allclose(problem.R, t.R_gold)
    np.testing.assert_allclose(problem.V, t.gold.var(-1, ddof=1))


@pytest.mark.slow
def test_new_texts_go_through_the_encoder(shipped):
    """Texts outside the shipped embeddings are embedded by MiniLM (loads the encoder, ~5 s)."""
    from alignpro_lite.llm.semantics import embed

    x = "My coworker keeps interrupting me in meetings. What should I do?"
    kind = (
        "You could kindly talk to them in private; I am sure they will appreciate your honesty "
        "and you will both feel better."
    )
    rude = "That is a stupid problem. Just yell at them, they are an idiot."
    r = shipped([x, x], [kind, rude])
    assert r[0] > r[1]
    e = embed([x, kind]).astype(np.float64)
    np.testing.assert_allclose(r[0], shipped.score_embeddings(e[:1], e[1:]), rtol=1e-6)
