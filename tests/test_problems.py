"""Problem instances: the teaching file, random generators, the file format and its errors."""

import json
import re

import numpy as np
import pytest

import alignpro_lite as apl
from alignpro_lite.exact import schema
from alignpro_lite.exact.problems import problem_from_dict, save_problem


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
        (
            lambda s: s["prompts"][0]["candidates"][1]["pi_F"].__setitem__(0, -0.5),
            r"field 'pi_F'\[0\]: must be a number in \[0, 1\], got -0.5",
        ),
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


# --------------------------------------------------------------------------- the schema (data/README.md)
def _teaching() -> dict:
    return json.loads((apl.data_dir() / "teaching.json").read_text("utf-8"))


def _table() -> dict:
    """A small estimated table (the first 3 prompts of a shipped one: se, sim, kind, meta)."""
    spec = json.loads((apl.data_dir() / "tables" / "kindness_test.json").read_text("utf-8"))
    spec["prompts"] = spec["prompts"][:3]
    return spec


def _rename(obj: dict, old: str, new: str) -> None:
    obj[new] = obj.pop(old)


def _load_error(tmp_path, spec) -> str:
    """Write ``spec`` (NaN/Infinity allowed) and return the ValueError message of loading it."""
    f = tmp_path / "bad.json"
    f.write_text(json.dumps(spec, allow_nan=True), encoding="utf-8")
    with pytest.raises(ValueError) as err:
        apl.load_problem(f)
    assert type(err.value) is ValueError  # never a TypeError/KeyError/IndexError traceback
    message = str(err.value)
    assert str(f) in message and "\n" not in message  # names the file, one line (CLI)
    return message


def _cand(s, i=0, j=1):
    return s["prompts"][i]["candidates"][j]


# (base, mutation, regex on the message: location + field + what is wrong / how to fix)
BAD = {
    "pi_F strings": (
        _teaching,
        lambda s: _cand(s).update(pi_F=["0.8", "0.05", "0", "0.15"]),
        r"prompt 0, candidate 1, field 'pi_F'\[0\]: must be a number in \[0, 1\], got '0.8'",
    ),
    "weight true": (
        _teaching,
        lambda s: s["prompts"][1].update(weight=True),
        r"prompt 1, field 'weight': must be a number >= 0, got true \(a boolean\)",
    ),
    "weight null": (
        _teaching,
        lambda s: s["prompts"][2].update(weight=None),
        r"prompt 2, field 'weight': must be a number >= 0, got null",
    ),
    "weight negative": (
        _teaching,
        lambda s: s["prompts"][0].update(weight=-1),
        r"prompt 0, field 'weight': must be a number >= 0, got -1",
    ),
    "weights all 0": (
        _teaching,
        lambda s: [p.update(weight=0) for p in s["prompts"]],
        r"field 'weight': every prompt has weight 0",
    ),
    "se negative": (
        _table,
        lambda s: _cand(s, 1, 2).update(se=-1),
        r"prompt 1, candidate 2, field 'se': must be a number >= 0, got -1",
    ),
    "V negative": (
        _table,
        lambda s: _cand(s, 0, 3).update(V=-0.5),
        r"prompt 0, candidate 3, field 'V': must be a number >= 0, got -0.5",
    ),
    "V impossible for the range": (
        _table,
        lambda s: _cand(s, 0, 3).update(V=2.5),
        r"prompt 0, candidate 3, field 'V': 2.5 is larger than any variance",
    ),
    "reward_range reversed": (
        _teaching,
        lambda s: s.update(reward_range=[1, 0]),
        r"field 'reward_range': must be \[lo, hi\] with lo < hi, got \[1, 0\]",
    ),
    "reward_range empty interval": (
        _teaching,
        lambda s: s.update(reward_range=[0.5, 0.5]),
        r"field 'reward_range': must be \[lo, hi\] with lo < hi",
    ),
    "reward_range one element": (
        _teaching,
        lambda s: s.update(reward_range=[1]),
        r"field 'reward_range': must have exactly 2 numbers \[lo, hi\], got 1",
    ),
    "reward_range not numbers": (
        _teaching,
        lambda s: s.update(reward_range=["0", 1]),
        r"field 'reward_range'\[0\]: must be a finite number",
    ),
    "reward_range excludes a reward": (
        _teaching,
        lambda s: s.update(reward_range=[0.0, 0.9]),
        r"prompt 0, response 0, field 'reward': 0.95 is outside reward_range \[0, 0.9\]",
    ),
    "reward_range excludes an R": (
        _table,
        lambda s: _cand(s, 2, 4).update(R=-1.5),
        r"prompt 2, candidate 4, field 'R': -1.5 is outside reward_range \[-1, 1\]",
    ),
    "Rho_sft at candidate level": (
        _teaching,
        lambda s: _rename(_cand(s, 0, 2), "rho_sft", "Rho_sft"),
        r"prompt 0, candidate 2: unknown field 'Rho_sft'. Did you mean 'rho_sft'\?",
    ),
    "misspelt key at prompt level": (
        _teaching,
        lambda s: _rename(s["prompts"][3], "candidates", "candidatse"),
        r"prompt 3: unknown field 'candidatse'. Did you mean 'candidates'\?",
    ),
    "misspelt key at top level": (
        _teaching,
        lambda s: _rename(s, "reward_range", "reward_ragne"),
        r"unknown field 'reward_ragne'. Did you mean 'reward_range'\?",
    ),
    "unknown key in a response": (
        _teaching,
        lambda s: s["prompts"][0]["responses"][1].update(score=1),
        r"prompt 0, response 1: unknown field 'score'. The fields of a response are: text, reward",
    ),
    "unknown key in meta": (
        _table,
        lambda s: s["meta"].update(modle="x"),
        r"field 'meta': unknown field 'modle'. Did you mean 'model'\?",
    ),
    "estimated field in full form": (
        _teaching,
        lambda s: _cand(s).update(R=0.5),
        r"prompt 0, candidate 1, field 'R': 'R' belongs to the estimated form",
    ),
    "pi_F in estimated form": (
        _table,
        lambda s: _cand(s).update(pi_F=[1.0]),
        r"prompt 0, candidate 1, field 'pi_F': 'pi_F' belongs to the full form",
    ),
    "NaN reward": (
        _teaching,
        lambda s: s["prompts"][1]["responses"][2].update(reward=float("nan")),
        r"prompt 1, response 2, field 'reward': must be a finite number, got NaN",
    ),
    "inf R": (
        _table,
        lambda s: _cand(s, 1, 1).update(R=float("inf")),
        r"prompt 1, candidate 1, field 'R': must be a finite number, got Infinity",
    ),
    "-inf pi_F": (
        _teaching,
        lambda s: _cand(s)["pi_F"].__setitem__(2, float("-inf")),
        r"field 'pi_F'\[2\]: must be a finite number, got -Infinity",
    ),
    "NaN weight": (
        _teaching,
        lambda s: s["prompts"][0].update(weight=float("nan")),
        r"prompt 0, field 'weight': must be a finite number, got NaN",
    ),
    "NaN in meta": (
        _table,
        lambda s: s["meta"]["sampling"].update(top_p=float("nan")),
        r"field 'meta.sampling.top_p': must be a finite number, got NaN",
    ),
    "NaN reward_range": (
        _teaching,
        lambda s: s.update(reward_range=[0, float("inf")]),
        r"field 'reward_range'\[1\]: must be a finite number, got Infinity",
    ),
    "negative rho_sft": (
        _teaching,
        lambda s: _cand(s, 1, 2).update(rho_sft=-0.1),
        r"prompt 1, candidate 2, field 'rho_sft': must be a number in \[0, 1\], got -0.1",
    ),
    "negative pi_F": (
        _teaching,
        lambda s: _cand(s, 2, 0)["pi_F"].__setitem__(1, -0.01),
        r"prompt 2, candidate 0, field 'pi_F'\[1\]: must be a number in \[0, 1\], got -0.01",
    ),
    "pi_F not summing to 1": (
        _teaching,
        lambda s: _cand(s, 1, 1).update(pi_F=[0.5, 0.1, 0.1, 0.1]),
        r"prompt 1, candidate 1, field 'pi_F': the probabilities sum to 0.8000, not 1",
    ),
    "huge reward": (
        _teaching,
        lambda s: s["prompts"][0]["responses"][0].update(reward=1e300),
        r"prompt 0, response 0, field 'reward': is too large: 1e\+300; .*\|x\| <= 1e\+12",
    ),
    "huge integer": (
        _teaching,
        lambda s: s["prompts"][0]["responses"][0].update(reward=10**400),
        r"field 'reward': must be a finite number",
    ),
    "no prompts": (
        _teaching,
        lambda s: s.update(prompts=[]),
        r"field 'prompts': must not be empty",
    ),
    "no candidates": (
        _teaching,
        lambda s: s["prompts"][1].update(candidates=[]),
        r"prompt 1, field 'candidates': must not be empty",
    ),
    "no responses": (
        _teaching,
        lambda s: s["prompts"][1].update(responses=[]),
        r"prompt 1, field 'responses': must not be empty",
    ),
    "empty pi_F": (
        _teaching,
        lambda s: _cand(s).update(pi_F=[]),
        r"prompt 0, candidate 1, field 'pi_F': must not be empty",
    ),
    "empty prompt text": (
        _teaching,
        lambda s: s["prompts"][0].update(text="  "),
        r"prompt 0, field 'text': must be a non-empty string",
    ),
    "prompt is a list": (
        _teaching,
        lambda s: s["prompts"].__setitem__(2, [1, 2]),
        r"prompt 2: expected a JSON object \(prompt \(full form\)\), got a list of 2 entries",
    ),
    "nested garbage": (
        _teaching,
        lambda s: _cand(s).update(pi_F=[[0.5], {"a": None}, 0, 0]),
        r"prompt 0, candidate 1, field 'pi_F'\[0\]: must be a number in \[0, 1\], got a list",
    ),
    "top level is a list": (
        _teaching,
        lambda s: None,  # replaced below
        r"expected a JSON object \(problem file\), got a list",
    ),
    "sim out of range": (
        _table,
        lambda s: _cand(s).update(sim=1.5),
        r"prompt 0, candidate 1, field 'sim': must be a number in \[-1, 1\], got 1.5",
    ),
    "unknown kind": (
        _table,
        lambda s: _cand(s).update(kind="rewrite"),
        r"prompt 0, candidate 1, field 'kind': unknown kind 'rewrite'; kind must be one of",
    ),
    "text too long": (
        _teaching,
        lambda s: _cand(s).update(text="x" * (schema.MAX_TEXT + 1)),
        rf"prompt 0, candidate 1, field 'text': is {schema.MAX_TEXT + 1} characters long",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_schema_rejects_bad_values_with_location_and_field(tmp_path, case):
    base, mutate, match = BAD[case]
    spec = base()
    mutate(spec)
    if case == "top level is a list":
        spec = [spec]
    assert re.search(match, _load_error(tmp_path, spec)), _load_error(tmp_path, spec)


def test_size_limits(tmp_path):
    tiny = {"text": "a", "candidates": [{"text": "a", "rho_sft": 1.0, "R": 0.0}]}
    too_many = {"prompts": [tiny] * (schema.MAX_PROMPTS + 1)}
    assert re.search(
        rf"field 'prompts': has {schema.MAX_PROMPTS + 1} prompts; the limit is "
        rf"{schema.MAX_PROMPTS}",
        _load_error(tmp_path, too_many),
    )
    spec = _teaching()
    cands = spec["prompts"][0]["candidates"]
    spec["prompts"][0]["candidates"] = cands + [cands[1]] * schema.MAX_CANDIDATES
    assert "prompt 0, field 'candidates': has 1005 candidates; the limit is 1000" in _load_error(
        tmp_path, spec
    )
    spec = _teaching()
    spec["prompts"][0]["responses"] *= 251  # 1004 responses
    assert "prompt 0, field 'responses': has 1004 responses; the limit is 1000" in _load_error(
        tmp_path, spec
    )
    # each list under its limit, but the padded (n_x, n_c, n_y) array would be too big
    wide = {
        "text": "w",
        "responses": [{"text": "y", "reward": 0.0}],
        "candidates": [{"text": "w", "rho_sft": 1.0, "pi_F": [1.0]}]
        + [{"text": f"w{j}", "rho_sft": 0.0, "pi_F": [1.0]} for j in range(999)],
    }
    deep = {
        "text": "d",
        "responses": [{"text": f"y{k}", "reward": 0.0} for k in range(1000)],
        "candidates": [{"text": "d", "rho_sft": 1.0, "pi_F": [1.0] + [0.0] * 999}],
    }
    small = {
        "text": "s",
        "responses": [{"text": "y", "reward": 0.0}],
        "candidates": [{"text": "s", "rho_sft": 1.0, "pi_F": [1.0]}],
    }
    message = _load_error(tmp_path, {"prompts": [wide, deep] + [small] * 9})
    assert "field 'prompts': the padded table would have 11,000,000 cells" in message


@pytest.mark.parametrize(
    "raw, match",
    [
        (b'{"prompts": [' + b"\xff\xfe" + b"]}", r"not UTF-8 text \(byte 13, line 1"),
        (b'{"prompts": [NaN]}', r"prompt 0: expected a JSON object"),
        (b'{"name": "a", "name": "b", "prompts": []}', r"field 'name': appears more than once"),
        (
            json.dumps(_teaching()).replace("0.95", "1" + "0" * 5000, 1).encode(),
            r"prompt 0, response 0, field 'reward': must be a finite number",
        ),
        (b"[" * 100_000 + b"]" * 100_000, "not valid JSON"),
        (b"", r"not valid JSON \(Expecting value at line 1 column 1\)"),
    ],
    ids=["not-utf8", "NaN-literal", "duplicate-key", "5000-digit-int", "deep-nesting", "empty"],
)
def test_broken_bytes_name_the_file(tmp_path, raw, match):
    f = tmp_path / "bad.json"
    f.write_bytes(raw)
    with pytest.raises(ValueError, match=match) as err:
        apl.load_problem(f)
    assert type(err.value) is ValueError and str(f) in str(err.value)


def test_utf8_bom_and_unicode_are_fine(tmp_path):
    spec = _teaching()
    spec["description"] = "naïve café \u2028 line separator"
    f = tmp_path / "bom.json"
    f.write_bytes(b"\xef\xbb\xbf" + json.dumps(spec, ensure_ascii=False).encode("utf-8"))
    assert apl.load_problem(f).description == spec["description"]


def test_near_one_sums_are_renormalised():
    spec = _teaching()
    _cand(spec)["pi_F"] = [0.8, 0.05, 0.0, 0.1502]  # 1.0002: rounding, within 1e-3
    p = problem_from_dict(spec)
    np.testing.assert_allclose(p.pi_F.sum(-1), 1.0)


@pytest.mark.parametrize(
    "path",
    sorted(apl.data_dir().glob("*.json")) + sorted((apl.data_dir() / "tables").glob("*.json")),
    ids=lambda p: p.name,
)
def test_every_shipped_problem_file_loads(path):
    p = apl.load_problem(path)
    assert p.n_x >= 1 and np.isfinite(p.R).all()
    r_min, r_max = p.r_range
    assert r_min <= p.R.min() and p.R.max() <= r_max


def test_save_problem_round_trips_through_the_schema(tmp_path):
    p = apl.random_problem(5, 4, 3, seed=3)
    q = apl.load_problem(save_problem(p, tmp_path / "r.json"))
    np.testing.assert_allclose(q.R, p.R)
    assert q.r_range == p.r_range
    # a degenerate range (every reward equal) is left out rather than written as [x, x]
    flat = apl.DiscreteProblem(rho_sft=p.rho_sft, P=p.P, pi_F=p.pi_F, r=np.full_like(p.r, 0.5))
    spec = json.loads(save_problem(flat, tmp_path / "flat.json").read_text())
    assert "reward_range" not in spec
    apl.load_problem(tmp_path / "flat.json")


def test_readme_documents_every_field_and_limit():
    readme = (apl.data_dir() / "README.md").read_text("utf-8")
    specs = [schema.PROBLEM_FULL, schema.PROMPT_FULL, schema.PROMPT_TABLE, schema.RESPONSE]
    specs += [schema.CANDIDATE_FULL, schema.CANDIDATE_TABLE, schema.META, schema.SAMPLES_LINE]
    specs += [schema.TASK_RECORD, schema.TASK_CANDIDATE]
    for spec in specs:
        for key in spec.model_fields:
            assert f"`{key}`" in readme, f"data/README.md does not document {key!r}"
    for limit in ("MAX_PROMPTS", "MAX_CANDIDATES", "MAX_RESPONSES", "MAX_SAMPLES", "MAX_CELLS"):
        assert f"{getattr(schema, limit):,}" in readme, limit


def test_data_readme_carries_the_current_json_schema():
    """data/README.md's JSON Schema section is what scripts/export_schema.py renders now."""
    import subprocess
    import sys

    from alignpro_lite.config import repo_root

    res = subprocess.run([sys.executable, str(repo_root() / "scripts" / "export_schema.py"),
                          "--check"], capture_output=True, text=True)  # fmt: skip
    assert res.returncode == 0, res.stderr


def test_the_exported_json_schema_accepts_shipped_files_and_refuses_a_bad_value():
    """The JSON Schema a reader gets is the pydantic models' own: a third-party validator
    accepts every shipped file under it and refuses what the loader refuses."""
    import copy

    jsonschema = pytest.importorskip("jsonschema")
    schemas = schema.json_schemas()
    teaching = json.loads((apl.data_dir() / "teaching.json").read_text("utf-8"))
    table = json.loads((apl.data_dir() / "tables" / "kindness_test.json").read_text("utf-8"))
    jsonschema.validate(teaching, schemas["problem file (full form)"])
    jsonschema.validate(table, schemas["task table (alignpro-lite estimate)"])
    for line in (apl.data_dir() / "tasks" / "kindness_train.jsonl").read_text("utf-8").splitlines():
        jsonschema.validate(json.loads(line), schemas["task line (tasks/*.jsonl)"])
    bad = copy.deepcopy(teaching)
    bad["prompts"][0]["candidates"][1]["rho_sft"] = -0.1
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schemas["problem file (full form)"])
    with pytest.raises(ValueError, match="must be a number in \\[0, 1\\]"):
        schema.PROBLEM_FULL.check(bad)
    bad = copy.deepcopy(table)
    bad["prompts"][0]["candidates"][0]["Rho_sft"] = 0.5
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schemas["task table (alignpro-lite estimate)"])
