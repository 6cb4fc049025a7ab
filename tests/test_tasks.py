"""The shipped task files load and follow their schema; broken files fail with the line named."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from alignpro_lite.config import repo_root
from alignpro_lite.llm import tasks

ALL = [(t, s) for t in tasks.TASKS for s in tasks.SPLITS]
MIN_PROMPTS = {"train": 60, "test": 60}


@pytest.fixture(scope="module")
def shipped():
    return {(t, s): tasks.load_task(t, s) for t, s in ALL}


# --------------------------------------------------------------------------- shipped data
@pytest.mark.parametrize("task,split", ALL)
def test_shipped_file_loads_with_enough_prompts(shipped, task, split):
    prompts = shipped[task, split]
    assert len(prompts) >= MIN_PROMPTS[split]
    for p in prompts:
        assert p.task == task and p.split == split
        assert len(p.candidates) >= 6
        assert p.candidates[0].text == p.prompt and p.candidates[0].kind == "original"
        kinds = p.candidate_kinds
        assert "instruction" in kinds and "bad" in kinds
        assert all(len(c.text.split()) <= 75 for c in p.candidates), p.id
        assert (p.label is not None) == (task == "harmlessness")
        assert (p.reference is not None) == (task == "helpfulness")
        assert (p.key is not None) == (task == "helpfulness")
        # every prompt has every rewrite type of its family, in the same order
        assert p.candidate_types == prompts[0].candidate_types
        assert p.candidate_types[0] == "original" and p.candidate_types[-1] == "bad"


def test_ids_unique_and_no_prompt_in_both_splits(shipped):
    ids = [p.id for ps in shipped.values() for p in ps]
    assert len(ids) == len(set(ids))
    for task in tasks.TASKS:
        train = {p.prompt for p in shipped[task, "train"]}
        test = {p.prompt for p in shipped[task, "test"]}
        assert not train & test, f"{task}: prompts in both splits: {train & test}"


@pytest.mark.parametrize("split", tasks.SPLITS)
def test_harmlessness_is_about_40_percent_harmful(shipped, split):
    labels = [p.label for p in shipped["harmlessness", split]]
    frac = labels.count("harmful") / len(labels)
    assert 0.3 <= frac <= 0.5
    # interleaved, so a fast-mode prefix is mixed too
    first = labels[:10]
    assert 3 <= first.count("harmful") <= 5


def test_keys_name_the_fact_of_the_reference(shipped):
    from alignpro_lite.llm.rewards import contains_key

    for split in tasks.SPLITS:
        ps = shipped["helpfulness", split]
        # each key is stated by its reference, and not already given away by the question
        assert contains_key([p.reference for p in ps], [p.key for p in ps]).all()
        assert not contains_key([p.prompt for p in ps], [p.key for p in ps]).any()


def test_references_are_short(shipped):
    for split in tasks.SPLITS:
        for p in shipped["helpfulness", split]:
            assert 2 <= len(p.reference.split()) <= 35, p.id


def test_lookups_cover_both_splits(shipped):
    labels = tasks.label_lookup()
    refs = tasks.reference_lookup()
    assert len(labels) == sum(len(shipped["harmlessness", s]) for s in tasks.SPLITS)
    assert len(refs) == sum(len(shipped["helpfulness", s]) for s in tasks.SPLITS)
    p = shipped["harmlessness", "test"][0]
    assert labels[p.prompt] == p.label


def test_candidate_lists_shapes(shipped):
    prompts = shipped["kindness", "test"]
    xs, cands = tasks.candidate_lists(prompts)
    assert len(xs) == len(cands) == len(prompts)
    assert all(c[0] == x for x, c in zip(xs, cands))
    assert tasks.candidate_kinds(prompts)[0][0] == "original"


def test_generator_script_matches_shipped_files(tmp_path):
    """The JSONL files are what scripts/make_task_data.py writes (edit the script, rerun it)."""
    path = repo_root() / "scripts" / "make_task_data.py"
    spec = importlib.util.spec_from_file_location("make_task_data", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(tmp_path)
    for task, split in ALL:
        name = f"{task}_{split}.jsonl"
        shipped_text = (tasks.task_dir() / name).read_text(encoding="utf-8")
        assert (tmp_path / name).read_text(encoding="utf-8") == shipped_text, name


# --------------------------------------------------------------------------- broken files
def _record(i: int = 1, **over) -> dict:
    prompt = over.pop("prompt", f"How do I say no kindly, case {i}?")
    rec = {
        "id": f"kind-train-{i:03d}",
        "task": "kindness",
        "split": "train",
        "prompt": prompt,
        "label": None,
        "reference": None,
        "candidates": [
            {"text": prompt, "kind": "original"},
            {"text": f"Answer kindly: {prompt}", "kind": "instruction"},
            {"text": "Write a poem about spring.", "kind": "bad"},
        ],
    }
    rec.update(over)
    return rec


def _write(tmp_path: Path, lines: list, name: str = "kindness_train.jsonl") -> Path:
    path = tmp_path / name
    text = [ln if isinstance(ln, str) else json.dumps(ln) for ln in lines]
    path.write_text("\n".join(text) + "\n", encoding="utf-8")
    return path


def test_valid_temp_file_loads(tmp_path):
    path = _write(tmp_path, [_record(1), "", _record(2)])
    prompts = tasks.load_task_file(path)
    assert [p.id for p in prompts] == ["kind-train-001", "kind-train-002"]


@pytest.mark.parametrize(
    "bad_line, message",
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "expected a JSON object"),
        ({k: v for k, v in _record(2).items() if k != "prompt"}, "missing field"),
        (_record(2, extra=1), "unknown field"),
        (_record(2, task="poetry"), "unknown task"),
        (_record(2, split="dev"), "unknown split"),
        (_record(2, label="maybe"), "label must be one of"),
        (_record(2, candidates=[{"text": "How do I say no kindly, case 2?", "kind": "original"}]),
         "at least 2"),
        (_record(2, candidates=[{"text": "Something else", "kind": "original"},
                                {"text": "How do I say no kindly, case 2?", "kind": "instruction"}]),
         "candidate 0 must be the original"),
        (_record(2, candidates=[{"text": "How do I say no kindly, case 2?", "kind": "original"},
                                {"text": "x", "kind": "weird"}]),
         "kind must be one of"),
        (_record(2, candidates=[{"text": "How do I say no kindly, case 2?", "kind": "original"},
                                {"text": "Be kind.", "kind": "instruction"},
                                {"text": "Be kind.", "kind": "bad"}]),
         "duplicate candidate text"),
        (_record(2, task="harmlessness"), "needs label"),
        (_record(2, task="helpfulness"), "needs a reference"),
        (_record(1), "duplicate id"),
        (_record(3, prompt="How do I say no kindly, case 1?"), "duplicate prompt text"),
    ],
)  # fmt: skip
def test_broken_line_names_file_and_line(tmp_path, bad_line, message):
    path = _write(tmp_path, [_record(1), bad_line])
    with pytest.raises(ValueError, match=message) as err:
        tasks.load_task_file(path)
    assert "line 2" in str(err.value)
    assert str(path) in str(err.value)


def test_duplicate_id_names_first_line(tmp_path):
    path = _write(tmp_path, [_record(1), _record(2), _record(1, prompt="Another prompt?")])
    with pytest.raises(
        ValueError, match=r"line 3 \(id 'kind-train-001'\), field 'id': duplicate id .*line 1"
    ):
        tasks.load_task_file(path)


def test_missing_file_says_what_is_expected(tmp_path, monkeypatch):
    monkeypatch.setenv("ALIGNPRO_DATA", str(tmp_path))
    with pytest.raises(ValueError, match=r"kindness_test\.jsonl.*does not exist") as err:
        tasks.load_task("kindness", "test")
    assert str(tmp_path / "tasks") in str(err.value)


def test_empty_file_is_an_error(tmp_path):
    path = _write(tmp_path, ["", "  "])
    with pytest.raises(ValueError, match="no prompts"):
        tasks.load_task_file(path)


def test_load_task_checks_file_matches_fields(tmp_path, monkeypatch):
    (tmp_path / "tasks").mkdir()
    _write(tmp_path / "tasks", [_record(1, split="test")], name="kindness_train.jsonl")
    monkeypatch.setenv("ALIGNPRO_DATA", str(tmp_path))
    with pytest.raises(ValueError, match="split='test'"):
        tasks.load_task("kindness", "train")


@pytest.mark.parametrize("task,split", [("poetry", "train"), ("kindness", "dev")])
def test_unknown_task_or_split(task, split):
    with pytest.raises(ValueError, match="unknown"):
        tasks.load_task(task, split)


# --------------------------------------------------------------------------- schema errors name file, item, field
def _tasks_folder(tmp_path, monkeypatch, lines, name="kindness_train.jsonl") -> Path:
    (tmp_path / "tasks").mkdir(exist_ok=True)
    path = _write(tmp_path / "tasks", lines, name=name)
    monkeypatch.setenv("ALIGNPRO_DATA", str(tmp_path))
    return path


@pytest.mark.parametrize(
    "over, field",
    [
        ({"task": "helpfulness", "reference": None}, "task"),  # used to say "needs a reference"
        ({"task": "harmlessness", "label": None}, "task"),  # used to say "needs label"
        ({"task": "helpfulness", "reference": "An answer."}, "task"),
        ({"split": "test"}, "split"),
    ],
)
def test_line_of_another_task_names_file_line_item_and_field(tmp_path, monkeypatch, over, field):
    path = _tasks_folder(tmp_path, monkeypatch, [_record(1), _record(2, **over)])
    with pytest.raises(ValueError) as err:
        tasks.load_task("kindness", "train")
    message = str(err.value)
    assert message.startswith(f"{path}, line 2 (id 'kind-train-002'), field '{field}': ")
    assert "but the file holds task='kindness', split='train'" in message
    assert "needs" not in message


@pytest.mark.parametrize(
    "over, match",
    [
        ({"label": "harmful"}, r"field 'label': only harmlessness prompts have a label"),
        ({"reference": "An answer."}, r"field 'reference': only helpfulness prompts have a reference"),
        ({"task": "helpfulness"}, r"field 'reference': a helpfulness prompt needs a reference"),
        ({"task": "harmlessness"}, r"field 'label': a harmlessness prompt needs label"),
        ({"task": "helpfulness", "reference": "An answer."}, r"field 'key': a helpfulness prompt needs a key"),
        ({"key": ["no"]}, r"field 'key': only helpfulness prompts have key answers"),
        ({"task": "helpfulness", "reference": "A.", "key": []}, r"field 'key': must not be empty"),
        ({"id": 7}, r"line 2, field 'id': must be a non-empty string, got 7"),
        ({"label": True}, r"field 'label': unknown label true \(a boolean\)"),
        ({"candidates": "none"}, r"field 'candidates': must be a list of candidates"),
        ({"candidates": []}, r"field 'candidates': must not be empty"),
        ({"prompt": ""}, r"field 'prompt': must be a non-empty string"),
        ({"reference": ""}, r"field 'reference': must be a non-empty string"),
    ],
)  # fmt: skip
def test_wrong_values_name_line_item_and_field(tmp_path, over, match):
    path = _write(tmp_path, [_record(1), _record(2, **over)])
    with pytest.raises(ValueError, match=match) as err:
        tasks.load_task_file(path)
    assert str(err.value).startswith(f"{path}, line 2")


def test_misspelt_keys_suggest_the_right_one(tmp_path):
    rec = _record(2)
    rec["Prompt"] = rec.pop("prompt")
    path = _write(tmp_path, [_record(1), rec])
    with pytest.raises(
        ValueError,
        match=r"line 2 \(id 'kind-train-002'\): unknown field 'Prompt'. Did you mean 'prompt'\?",
    ):
        tasks.load_task_file(path)
    rec = _record(2)
    rec["candidates"][1]["knd"] = rec["candidates"][1].pop("kind")
    path = _write(tmp_path, [_record(1), rec])
    with pytest.raises(
        ValueError,
        match=r"line 2 \(id 'kind-train-002'\), candidate 1: unknown field 'knd'. Did you mean 'kind'\?",
    ):
        tasks.load_task_file(path)


def test_task_file_encoding_and_line_ends(tmp_path):
    path = _write(tmp_path, [_record(1), _record(2)])
    raw = path.read_bytes()
    path.write_bytes(raw + b"\n\n   \n")  # trailing blank lines
    assert len(tasks.load_task_file(path)) == 2
    path.write_bytes(raw.replace(b"\n", b"\r\n"))  # CRLF
    assert len(tasks.load_task_file(path)) == 2
    # a JSON string may hold U+2028 / U+0085 unescaped: they are not line breaks in JSON lines
    rec = _record(3, prompt="Two\u2028lines\x85here?")
    path.write_text(json.dumps(rec, ensure_ascii=False) + "\n", encoding="utf-8")
    assert tasks.load_task_file(path)[0].prompt == "Two\u2028lines\x85here?"
    path.write_bytes(raw[:40] + b"\xff" + raw[40:])
    with pytest.raises(ValueError, match=r"not UTF-8 text \(byte 40, line 1") as err:
        tasks.load_task_file(path)
    assert str(err.value).startswith(str(path))


def test_duplicate_keys_in_a_line(tmp_path):
    line = json.dumps(_record(2))[:-1] + ', "label": "harmful"}'
    path = _write(tmp_path, [_record(1), line])
    with pytest.raises(
        ValueError, match=r"line 2 \(id 'kind-train-002'\), field 'label': appears more than once"
    ):
        tasks.load_task_file(path)
