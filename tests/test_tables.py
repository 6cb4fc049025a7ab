"""Shipped prompt-value tables: they load, agree with their samples and task files, regenerate,
and any mismatch between the three files is a ValueError naming the file, location and field."""

import json
import re
from pathlib import Path

import numpy as np
import pytest

import alignpro_lite as apl
from alignpro_lite.llm import tables

SHIPPED = [(t, s) for t in apl.TASKS for s in ("train", "test")]


@pytest.mark.parametrize("task, split", SHIPPED)
def test_shipped_table_is_consistent_with_its_samples(task, split):
    tab = tables.load_task_table(task, split)
    p = tab.problem
    assert p.n_x == len(apl.load_task(task, split)) and p.n_c >= 6
    r_min, r_max = p.r_range
    assert r_min <= p.R.min() and p.R.max() <= r_max
    assert (tab.sim[:, 0] > 0.99).all()  # candidate 0 is the original prompt
    by = {(s["prompt_id"], s["c"]): np.asarray(s["rewards"]) for s in tab.samples}
    ids = [t.id for t in apl.load_task(task, split)]
    for i in (0, p.n_x - 1):
        for j in range(p.n_c):
            r = by[(ids[i], j)]
            assert p.R[i, j] == pytest.approx(r.mean(), abs=1e-4)
            assert p.V[i, j] == pytest.approx(r.var(ddof=1), abs=1e-4)
    assert all(len(k) == p.n_c for k in tab.kinds) and tab.kinds[0][0] == "original"


def test_missing_table_says_how_to_make_it(tmp_path):
    with pytest.raises(ValueError, match="alignpro-lite estimate"):
        tables.load_task_table("kindness", "test", folder=tmp_path)


@pytest.mark.slow
def test_estimate_task_table_end_to_end(smol, tmp_path, monkeypatch):
    monkeypatch.setenv("ALIGNPRO_CACHE", str(tmp_path / "cache"))
    model, tok = smol
    tab = tables.estimate_task_table(
        "kindness", "test", model, tok, n=2, max_prompts=1, max_new_tokens=4, progress=False
    )
    paths = tables.save_task_table(tab, tmp_path / "out")
    back = tables.load_task_table("kindness", "test", folder=tmp_path / "out")
    np.testing.assert_allclose(back.problem.R, tab.problem.R, atol=1e-6)
    assert len(back.samples) == tab.problem.n_c and all(p.exists() for p in paths)


# --------------------------------------------------------------------------- table <-> task file <-> samples
SHIPPED_DIR = apl.data_dir() / "tables"


class Copy:
    """A writable copy of the shipped kindness/test table and samples in a temp folder."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.table = folder / "kindness_test.json"
        self.samples = folder / "kindness_test_samples.jsonl"
        self.spec = json.loads((SHIPPED_DIR / self.table.name).read_text("utf-8"))
        text = (SHIPPED_DIR / self.samples.name).read_text("utf-8")
        self.lines = [json.loads(line) for line in text.splitlines()]

    def write(self, samples_text: str | None = None) -> None:
        self.table.write_text(json.dumps(self.spec, allow_nan=True), encoding="utf-8")
        if samples_text is None:
            samples_text = "".join(json.dumps(s) + "\n" for s in self.lines)
        self.samples.write_text(samples_text, encoding="utf-8")

    def error(self, samples_text: str | None = None) -> str:
        self.write(samples_text)
        with pytest.raises(ValueError) as err:
            tables.load_task_table("kindness", "test", folder=self.folder)
        assert type(err.value) is ValueError
        message = str(err.value)
        assert "\n" not in message
        return message

    def cand(self, i: int, j: int) -> dict:
        return self.spec["prompts"][i]["candidates"][j]

    def line(self, i: int, j: int) -> int:
        """Index (from 0) in ``lines`` of prompt i's candidate j."""
        return sum(len(p["candidates"]) for p in self.spec["prompts"][:i]) + j


@pytest.fixture
def copy(tmp_path) -> Copy:
    return Copy(tmp_path)


def test_unchanged_copy_loads(copy):
    copy.write()
    tab = tables.load_task_table("kindness", "test", folder=copy.folder)
    assert tab.problem.n_x == 60 and len(tab.samples) == 480


def test_trailing_blank_lines_in_samples_are_accepted(copy):
    text = "".join(json.dumps(s) + "\n" for s in copy.lines)
    copy.write(text + "\n\n  \n")
    assert len(tables.load_task_table("kindness", "test", folder=copy.folder).samples) == 480
    copy.write(text.replace("\n", "\r\n"))  # Windows line ends too
    assert len(tables.load_task_table("kindness", "test", folder=copy.folder).samples) == 480


def test_fewer_prompts_than_the_task_file(copy):
    copy.spec["prompts"].pop()
    copy.lines = copy.lines[:-8]
    message = copy.error()
    assert str(copy.table) in message
    assert "field 'prompts': the table has 59 prompts but the task file" in message
    assert "kindness_test.jsonl has 60" in message and "alignpro-lite estimate" in message


def test_max_prompts_tables_cover_a_prefix(copy):
    copy.spec["prompts"] = copy.spec["prompts"][:3]
    copy.lines = copy.lines[:24]
    copy.spec["meta"]["max_prompts"] = 3
    copy.write()
    assert tables.load_task_table("kindness", "test", folder=copy.folder).problem.n_x == 3
    copy.spec["meta"]["max_prompts"] = 4
    assert "has 3 prompts but the task file" in copy.error()


def test_reordered_prompts(copy):
    p = copy.spec["prompts"]
    p[0], p[1] = p[1], p[0]
    copy.lines = copy.lines[6:12] + copy.lines[:6] + copy.lines[12:]
    message = copy.error()
    assert f"{copy.table}: prompt 0, field 'text':" in message
    assert "id 'kind-test-001'" in message and "same order" in message


def _drop_last_candidate(copy: Copy, i: int) -> None:
    cands = copy.spec["prompts"][i]["candidates"]
    cands.pop()
    for c in cands:
        c["rho_sft"] = 1 / len(cands)


@pytest.mark.parametrize(
    "mutate, match",
    [
        (lambda c: c.cand(2, 3).update(text="Something else entirely"), r"prompt 2, candidate 3, field 'text'"),
        (lambda c: c.cand(2, 7).update(kind="instruction"), r"prompt 2, candidate 7, field 'kind'"),
        (lambda c: _drop_last_candidate(c, 4), r"prompt 4, field 'candidates': 7 candidates but prompt 'kind-test-005' .* has 8"),
        (lambda c: c.cand(1, 2).pop("sim"), r"prompt 1, candidate 2: missing field 'sim'"),
        (lambda c: c.cand(1, 2).update(sim=1.2), r"prompt 1, candidate 2, field 'sim': must be a number in \[-1, 1\], got 1.2"),
        (lambda c: c.cand(1, 2).update(sim=-1.5), r"field 'sim': must be a number in \[-1, 1\]"),
        (lambda c: c.cand(1, 2).update(sim=None), r"field 'sim': must be a number in \[-1, 1\], got null"),
        (lambda c: c.cand(0, 0).pop("kind"), r"prompt 0, candidate 0: missing field 'kind'"),
        (lambda c: c.cand(0, 1).pop("se"), r"prompt 0, candidate 1: missing field 'se'"),
        (lambda c: c.cand(3, 1).update(R=1.7), r"prompt 3, candidate 1, field 'R': 1.7 is outside reward_range \[-1, 1\]"),
        (lambda c: c.spec.pop("reward_range"), r"missing field 'reward_range'"),
        (lambda c: c.spec["meta"].update(task="helpfulness"), r"field 'meta.task' is 'helpfulness', but the file name says task 'kindness'"),
        (lambda c: c.spec["meta"].update(split="train"), r"field 'meta.split'"),
        (lambda c: c.spec["prompts"][0].pop("weight"), r"prompt 0: missing field 'weight'"),
        (lambda c: c.cand(0, 1).update(rho_sft="0.2"), r"prompt 0, candidate 1, field 'rho_sft': must be a number"),
    ],
)  # fmt: skip
def test_table_errors_name_file_location_and_field(copy, mutate, match):
    mutate(copy)
    message = copy.error()
    assert str(copy.table) in message
    assert re.search(match, message), message


def test_full_form_file_is_not_a_table(copy):
    teaching = json.loads((apl.data_dir() / "teaching.json").read_text("utf-8"))
    copy.spec = teaching
    assert "expected a problem in estimated form" in copy.error()


@pytest.mark.parametrize(
    "edit, line, match",
    [
        ("drop", 10, r"line 10: expected the answers of \(prompt_id 'kind-test-002', c 1\), got \(prompt_id 'kind-test-002', c 2\)"),
        ("dup", 10, r"line 11: expected the answers of \(prompt_id 'kind-test-002', c 2\), got \(prompt_id 'kind-test-002', c 1\)"),
        ("swap", 10, r"line 10: expected the answers of \(prompt_id 'kind-test-002', c 1\), got .* c 2\)"),
        ("extra", 481, r"line 481: extra line for \(prompt_id 'kind-test-060', c 7\); the table has 480"),
        ("short", None, r"479 lines but the table has 480 candidates; the answers of \(prompt_id 'kind-test-060', c 7\) onwards are missing \(after line 479\)"),
        ("id", 10, r"line 10: expected the answers of \(prompt_id 'kind-test-002', c 1\), got \(prompt_id 'kind-test-999', c 1\)"),
        ("kind", 10, r"line 10, field 'kind': 'bad' differs from the table's candidate 1"),
        ("text", 10, r"line 10, field 'candidate': 'changed' differs from the table's candidate 1"),
        ("reward", 10, r"line 10, field 'rewards'\[0\]: 3 is outside the table's reward_range \[-1, 1\]"),
        ("mean", 10, r"line 10, field 'rewards': their mean .* disagrees with R = "),
        ("count", 10, r"line 10, field 'rewards': 3 rewards for 4 responses"),
        ("n", 10, r"line 10, field 'rewards': 3 rewards, but meta.n says 4"),
        ("nan", 10, r"line 10, field 'rewards'\[1\]: must be a finite number, got NaN"),
        ("key", 10, r"line 10: unknown field 'reward'. Did you mean 'rewards'\?"),
        ("json", 10, r"line 10: not valid JSON"),
    ],
)  # fmt: skip
def test_samples_errors_name_the_samples_file_and_line(copy, edit, line, match):
    lines = copy.lines
    k = line - 1 if line else None
    if edit == "drop":
        del lines[k]
    elif edit == "dup":
        lines.insert(k, lines[k])
    elif edit == "swap":
        lines[k], lines[k + 1] = lines[k + 1], lines[k]
    elif edit == "extra":
        lines.append(dict(lines[-1]))
    elif edit == "short":
        lines.pop()
    elif edit == "id":
        lines[k]["prompt_id"] = "kind-test-999"
    elif edit == "kind":
        lines[k]["kind"] = "bad"
    elif edit == "text":
        lines[k]["candidate"] = "changed"
    elif edit == "reward":
        lines[k]["rewards"][0] = 3
    elif edit == "mean":
        lines[k]["rewards"][0] += 0.01
    elif edit == "count":
        lines[k]["rewards"].pop()
    elif edit == "n":
        lines[k]["rewards"].pop()
        lines[k]["responses"].pop()
    elif edit == "nan":
        lines[k]["rewards"][1] = float("nan")
    elif edit == "key":
        lines[k]["reward"] = lines[k].pop("rewards")
    text = "".join(json.dumps(s, allow_nan=True) + "\n" for s in lines)
    if edit == "json":
        text = text.replace("\n", "\n{oops\n", 9).replace("\n{oops\n", "\n", 8)
    message = copy.error(text)
    assert message.startswith(str(copy.samples)), message
    assert re.search(match, message), message


def test_samples_file_is_required(copy):
    copy.write()
    copy.samples.unlink()
    with pytest.raises(
        ValueError, match=r"kindness_test_samples.jsonl: the samples file .* is missing"
    ):
        tables.load_task_table("kindness", "test", folder=copy.folder)


@pytest.mark.parametrize("which", ["table", "samples"])
def test_files_that_are_not_utf8_are_named(copy, which):
    copy.write()
    target = copy.table if which == "table" else copy.samples
    target.write_bytes(target.read_bytes()[:50] + b"\xff\xfe" + target.read_bytes()[50:])
    with pytest.raises(ValueError, match="not UTF-8 text") as err:
        tables.load_task_table("kindness", "test", folder=copy.folder)
    assert str(err.value).startswith(str(target))
