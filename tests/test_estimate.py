"""Monte-Carlo R(x, x') on a synthetic "language model" with a known answer distribution:
unbiasedness, calibrated standard errors, the disk cache, and input checks. No model loads."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats

from alignpro_lite.exact import discrete
from alignpro_lite.llm.estimate import PromptValueEstimate, estimate_prompt_values

ANSWERS = ["no.", "maybe.", "yes!", "gladly!"]
# pi_F(y | x') for each rewrite text x' (known, so R is known exactly)
PI_F = {
    "q1": [0.4, 0.3, 0.2, 0.1],
    "q1 politely": [0.1, 0.2, 0.3, 0.4],
    "q1 tersely": [0.7, 0.1, 0.1, 0.1],
    "q2": [0.25, 0.25, 0.25, 0.25],
    "q2 please": [0.0, 0.1, 0.1, 0.8],
    "q2 now": [0.5, 0.5, 0.0, 0.0],
}
BASE = {"no.": 0.0, "maybe.": 1.0, "yes!": 2.0, "gladly!": 5.0}
OFFSET = {"q1": 0.0, "q2": 10.0}  # r depends on the ORIGINAL prompt x, not on x'


class SyntheticLM:
    """``sampler(texts, n, seed)``: draws answers from ``PI_F[text]``; counts its calls."""

    def __init__(self, cache_id: str | None = "synthetic-v1"):
        self.calls: list[list[str]] = []
        if cache_id is not None:
            self.cache_id = cache_id

    def __call__(self, texts, n, seed):
        self.calls.append(list(texts))
        rng = np.random.default_rng(seed)
        return [list(rng.choice(ANSWERS, size=n, p=PI_F[t])) for t in texts]


class Reward:
    """``r(x, y) = BASE[y] + OFFSET[x]``; raises if scored against a rewrite instead of ``x``."""

    def __init__(self, cache_id: str | None = "reward-v1", scale: float = 1.0):
        self.calls = 0
        self.scale = scale
        if cache_id is not None:
            self.cache_id = cache_id

    def __call__(self, prompts, responses):
        self.calls += 1
        return np.array([self.scale * BASE[y] + OFFSET[x] for x, y in zip(prompts, responses)])


PROMPTS = ["q1", "q2"]
CANDIDATES = [["q1", "q1 politely", "q1 tersely"], ["q2 please", "q2 now"]]  # q2 gets x prepended


def true_tables(scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Exact ``R`` and ``Var r`` (n_x, n_c) via the discrete module."""
    cands = [["q1", "q1 politely", "q1 tersely"], ["q2", "q2 please", "q2 now"]]
    pi_F = np.array([[PI_F[c] for c in cs] for cs in cands])  # (2, 3, 4)
    r = np.array([[scale * BASE[y] + OFFSET[x] for y in ANSWERS] for x in PROMPTS])  # (2, 4)
    return discrete.prompt_values(pi_F, r), discrete.response_variance(pi_F, r)


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ALIGNPRO_CACHE", str(tmp_path / "cache"))


def run(sampler=None, reward=None, **kw) -> PromptValueEstimate:
    kw.setdefault("n", 8)
    return estimate_prompt_values(
        PROMPTS, CANDIDATES, reward or Reward(), sampler or SyntheticLM(), **kw
    )


# ----------------------------------------------------------------------------- statistics
def test_shapes_original_prepended_and_scored_against_x():
    est = run(n=5)
    assert est.candidates == [["q1", "q1 politely", "q1 tersely"], ["q2", "q2 please", "q2 now"]]
    assert est.rewards.shape == (2, 3, 5)
    assert [len(r) for r in est.responses[1]] == [5, 5, 5]
    # every reward of prompt q2 carries q2's offset: scored against x, not against x'
    assert (est.rewards[1] >= OFFSET["q2"]).all() and (est.rewards[0] < OFFSET["q2"]).all()
    assert est.R.shape == est.V.shape == est.se.shape == (2, 3)
    np.testing.assert_allclose(est.se, np.sqrt(est.rewards.var(-1, ddof=1) / 5))


def test_unbiased_and_standard_errors_calibrated():
    """Over 400 seeds: mean R_hat and mean V_hat hit the exact values within 4 standard errors
    of the Monte-Carlo mean; sd(R_hat) matches the average se; t-intervals cover ~95%."""
    R_true, V_true = true_tables()
    n, seeds = 20, 400
    ests = [run(n=n, seed=s, cache=False) for s in range(seeds)]
    R_hat = np.stack([e.R for e in ests])  # (S, 2, 3)
    V_hat = np.stack([e.V for e in ests])
    se_hat = np.stack([e.se for e in ests])

    tol_R = 4 * R_hat.std(0, ddof=1) / np.sqrt(seeds) + 1e-12
    assert (np.abs(R_hat.mean(0) - R_true) <= tol_R).all(), (R_hat.mean(0), R_true)
    tol_V = 4 * V_hat.std(0, ddof=1) / np.sqrt(seeds) + 1e-12
    assert (np.abs(V_hat.mean(0) - V_true) <= tol_V).all(), (V_hat.mean(0), V_true)

    # se calibrated: spread of R_hat over seeds == typical reported se (within 15 %)
    ratio = R_hat.std(0, ddof=1) / np.sqrt((se_hat**2).mean(0))
    assert (np.abs(ratio - 1) < 0.15).all(), ratio

    lo, hi = zip(*(e.ci(0.95) for e in ests), strict=True)
    covered = (np.stack(lo) <= R_true) & (R_true <= np.stack(hi))
    assert 0.91 <= covered.mean() <= 0.98, covered.mean()  # t-interval, discrete rewards


def test_biased_scoring_would_be_caught():
    """Control for the test above: scoring with the wrong reward scale misses the truth."""
    R_true, _ = true_tables()
    ests = [run(n=20, seed=s, cache=False, reward=Reward(scale=1.1)) for s in range(100)]
    R_hat = np.stack([e.R for e in ests])
    tol_R = 4 * R_hat.std(0, ddof=1) / np.sqrt(100)
    assert (np.abs(R_hat.mean(0) - R_true) > tol_R).any()


def test_to_problem_estimated_form_and_padding():
    est = estimate_prompt_values(
        ["q1", "q2"], [["q1 politely"], ["q2 please", "q2 now"]], Reward(), SyntheticLM(), n=4
    )
    assert est.mask.tolist() == [[True, True, False], [True, True, True]]
    prob = est.to_problem(name="toy")
    assert not prob.tabular and prob.n_x == 2 and prob.n_c == 3
    np.testing.assert_allclose(prob.rho_sft, [[0.5, 0.5, 0.0], [1 / 3, 1 / 3, 1 / 3]])
    np.testing.assert_allclose(prob.R[est.mask], est.R[est.mask])
    np.testing.assert_allclose(prob.V[est.mask], est.V[est.mask])
    assert np.isfinite(prob.R).all() and (prob.se[~est.mask] == 0).all()
    assert prob.candidates[0] == ["q1", "q1 politely"]
    rho = prob.optimal_prompter(1e-3)
    assert rho[0, 2] == 0.0  # a padded candidate can never be chosen
    frame = est.to_frame()
    assert len(frame) == 5 and {"R", "se", "V", "ci_low", "ci_high"} <= set(frame.columns)
    with pytest.raises(ValueError, match="padded"):
        est.to_problem(rho_sft=[[0.4, 0.4, 0.2], [1 / 3, 1 / 3, 1 / 3]])


# ----------------------------------------------------------------------------- cache
def test_cache_hit_skips_sampler_and_reward():
    lm, rew = SyntheticLM(), Reward()
    first = run(lm, rew)
    assert len(lm.calls) == 1 and len(lm.calls[0]) == 6 and rew.calls == 1  # one batched call
    second = run(lm, rew)
    assert len(lm.calls) == 1 and rew.calls == 1, "a rerun must come from the cache"
    assert second.meta["sampled"] == 0 and second.meta["scored"] == 0
    np.testing.assert_array_equal(first.rewards, second.rewards)
    assert first.responses == second.responses


@pytest.mark.parametrize(
    "change",
    [{"seed": 1}, {"n": 9}, {"sampler_id": "another-lm"}],
    ids=["seed", "n", "sampler"],
)
def test_cache_miss_when_sampling_changes(change):
    lm = SyntheticLM()
    run(lm)
    run(lm, **change)
    assert len(lm.calls) == 2 and len(lm.calls[1]) == 6


def test_new_reward_rescores_without_resampling():
    lm, rew = SyntheticLM(), Reward(cache_id="reward-v2", scale=2.0)
    base = run(lm)
    other = run(lm, rew)
    assert len(lm.calls) == 1 and rew.calls == 1
    assert other.responses == base.responses
    assert not np.array_equal(other.rewards, base.rewards)


def test_only_new_candidates_are_sampled():
    lm = SyntheticLM()
    estimate_prompt_values(["q1"], [["q1 politely"]], Reward(), lm, n=4)
    estimate_prompt_values(["q1"], [["q1 politely", "q1 tersely"]], Reward(), lm, n=4)
    assert lm.calls == [["q1", "q1 politely"], ["q1 tersely"]]


def test_no_identity_means_no_cache(tmp_path):
    lm = SyntheticLM(cache_id=None)
    run(lm)
    run(lm)
    assert len(lm.calls) == 2
    assert not (tmp_path / "cache" / "estimates").exists()


def _entries(tmp_path, kind):
    return sorted((tmp_path / "cache" / "estimates" / kind).rglob("*.json"))


def test_truncated_entry_is_detected_and_recomputed(tmp_path):
    lm = SyntheticLM()
    first = run(lm)
    victim = _entries(tmp_path, "samples")[0]
    victim.write_bytes(victim.read_bytes()[:20])
    with pytest.warns(RuntimeWarning, match="corrupt"):
        again = run(lm)
    assert len(lm.calls) == 2 and len(lm.calls[1]) == 1  # only the broken entry
    np.testing.assert_array_equal(first.rewards, again.rewards)
    run(lm)  # repaired: a third run is a full hit
    assert len(lm.calls) == 2


def test_tampered_entry_fails_checksum(tmp_path):
    rew = Reward()
    first = run(reward=rew)
    victim = _entries(tmp_path, "rewards")[0]
    entry = json.loads(victim.read_text())
    entry["payload"]["rewards"][0] += 100.0  # valid JSON, wrong content
    victim.write_text(json.dumps(entry))
    with pytest.warns(RuntimeWarning, match="checksum"):
        again = run(reward=rew)
    assert rew.calls == 2
    np.testing.assert_array_equal(first.rewards, again.rewards)


def test_entry_under_wrong_key_is_rejected(tmp_path):
    run()
    a, b = _entries(tmp_path, "samples")[:2]
    b.write_bytes(a.read_bytes())  # a valid entry, but for another (x', n, seed)
    lm = SyntheticLM()
    with pytest.warns(RuntimeWarning, match="key"):
        run(lm)
    assert len(lm.calls) == 1 and len(lm.calls[0]) == 1


# ----------------------------------------------------------------------------- bad inputs
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n": 1}, "n must be an integer >= 2"),
        ({"n": 2.5}, "n must be an integer >= 2"),
        ({"n": "8"}, "n must be an integer >= 2"),
        ({"n": None}, "n must be an integer >= 2"),
        ({"seed": 0.5}, "seed"),
        ({"prompts": []}, "prompts must be a non-empty list"),
        ({"prompts": "q1"}, "prompts must be a non-empty list"),
        ({"prompts": ["q1"]}, "one list of rewrites per prompt"),
        ({"candidates": [["q1 politely"], []]}, r"candidates\[1\] must be a non-empty list"),
        ({"candidates": [["q1 politely"], [""]]}, r"candidates\[1\]\[0\]"),
    ],
)
def test_bad_inputs(kwargs, match):
    args = {"prompts": PROMPTS, "candidates": CANDIDATES, "n": 4, **kwargs}
    with pytest.raises(ValueError, match=match):
        estimate_prompt_values(
            args.pop("prompts"), args.pop("candidates"), Reward(), SyntheticLM(), **args
        )


@pytest.mark.parametrize(
    ("reward_fn", "match"),
    [
        (lambda xs, ys: np.zeros(len(ys) + 1), "shape"),
        (lambda xs, ys: np.zeros((len(ys), 2)), "shape"),
        (lambda xs, ys: np.full(len(ys), np.nan), "NaN"),
        (lambda xs, ys: ["good"] * len(ys), "numbers"),
    ],
    ids=["too-many", "2d", "nan", "strings"],
)
def test_bad_reward_fn(reward_fn, match):
    with pytest.raises(ValueError, match=match):
        estimate_prompt_values(PROMPTS, CANDIDATES, reward_fn, SyntheticLM(), n=3)


def test_bad_sampler_output():
    def short(texts, n, seed):
        return [["a"] * (n - 1) for _ in texts]

    with pytest.raises(ValueError, match="expected a list of 3 strings"):
        estimate_prompt_values(PROMPTS, CANDIDATES, Reward(), short, n=3, cache=False)


def test_t_interval_width():
    est = run(n=6)
    lo, hi = est.ci(0.9)
    np.testing.assert_allclose((hi - lo) / 2, stats.t.ppf(0.95, 5) * est.se)
    with pytest.raises(ValueError, match="level"):
        est.ci(1.5)
