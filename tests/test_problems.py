"""Problem instances: the teaching file, random generators, the file format and its errors."""

import json

import numpy as np
import pytest

import alignpro_lite as apl
from alignpro_lite.problems import problem_from_dict, save_problem


def test_teaching_instance_reads_and_teaches_something():
    p = apl.teaching_problem()
    assert (p.n_x, p.n_c) == (4, 5)
    assert all(c[0] == x for c, x in zip(p.candidates, p.prompts))  # candidate 0 = original
    np.testing.assert_allclose(p.P, 0.25)
    # the lesson: the winner changes with λ (rho_sft's favourite at large λ, best R at small λ)
    big, small = p.optimal_prompter(1e3).argmax(-1), p.optimal_prompter(1e-3).argmax(-1)
    assert (big != small).any()
    assert (p.optimal_prompter(1e-3)[p.rho_sft == 0] == 0).all()


def test_random_problem_is_seeded_and_valid():
    a, b = apl.random_problem(7, 5, 3, seed=11), apl.random_problem(7, 5, 3, seed=11)
    np.testing.assert_array_equal(a.pi_F, b.pi_F)
    c = apl.random_problem(7, 5, 3, seed=12)
    assert not np.array_equal(a.pi_F, c.pi_F)
    z = apl.random_problem(20, 6, 3, seed=0, zero_candidates=0.5)
    assert (z.rho_sft == 0).any() and (z.rho_sft[:, 0] > 0).all()
    with pytest.raises(ValueError, match="n_x"):
        apl.random_problem(0, 3, 3)


def test_round_trip_full_and_table(tmp_path):
    p = apl.teaching_problem()
    q = apl.load_problem(save_problem(p, tmp_path / "t.json"))
    np.testing.assert_allclose(q.R, p.R)
    np.testing.assert_allclose(q.V, p.V)
    table = apl.DiscreteProblem(
        rho_sft=p.rho_sft,
        P=p.P,
        R_table=p.R,
        V_table=p.V,
        prompts=p.prompts,
        candidates=p.candidates,
        name="t",
    )
    t = apl.load_problem(save_problem(table, tmp_path / "table.json"))
    assert not t.tabular
    np.testing.assert_allclose(t.R, p.R)
    with pytest.raises(ValueError, match="no pi_F"):
        _ = t.pi_ref


def test_ragged_candidates_are_padded_with_impossible_ones():
    spec = {
        "prompts": [
            {"text": "a", "candidates": [{"text": "a", "rho_sft": 1.0, "R": 0.1}]},
            {
                "text": "b",
                "candidates": [
                    {"text": "b", "rho_sft": 0.5, "R": 0.2},
                    {"text": "b2", "rho_sft": 0.5, "R": 0.9},
                ],
            },
        ]
    }
    p = problem_from_dict(spec)
    assert p.rho_sft.shape == (2, 2) and p.rho_sft[0, 1] == 0
    np.testing.assert_allclose(p.optimal_prompter(1e-6)[0], [1.0, 0.0])


@pytest.mark.parametrize(
    "mutate, match",
    [
        (lambda s: s.pop("prompts"), "prompts"),
        (
            lambda s: s["prompts"][0]["candidates"][0].update(text="other"),
            "candidate 0 must be the original",
        ),
        (lambda s: s["prompts"][1]["candidates"][2].update(rho_sft=0.9), "sums to"),
        (lambda s: s["prompts"][0]["candidates"][1].update(pi_F=[0.5, 0.5]), "pi_F has 2 entries"),
        (lambda s: s["prompts"][0]["candidates"][1]["pi_F"].__setitem__(0, -0.5), "negative|sum"),
        (lambda s: s["prompts"][2]["responses"][0].update(reward="high"), "reward"),
        (lambda s: s["prompts"][3].pop("responses"), "every prompt"),
    ],
)
def test_bad_files_name_the_problem(tmp_path, mutate, match):
    spec = json.loads((apl.data_dir() / "teaching.json").read_text())
    mutate(spec)
    f = tmp_path / "bad.json"
    f.write_text(json.dumps(spec))
    with pytest.raises(ValueError, match=match):
        apl.load_problem(f)


def test_missing_and_corrupt_files(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        apl.load_problem(tmp_path / "nope.json")
    f = tmp_path / "broken.json"
    f.write_text('{"prompts": [')
    with pytest.raises(ValueError, match="not valid JSON"):
        apl.load_problem(f)
