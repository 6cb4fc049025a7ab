"""Prompt-value tables estimated from a real LLM for the task data sets (shipped in ``data/tables``).

``estimate_task_table`` samples ``n`` answers of the frozen model to every candidate rewrite of
a task split, scores them against the *original* prompt with the task's reward, and returns a
:class:`~alignpro_lite.exact.problems.DiscreteProblem` in estimated form (``R``, ``V``, ``se``),
plus the per-answer samples and the semantic preservation ``cos(x, x')`` of every rewrite.

Regenerate the shipped tables with (train splits: 8 answers per rewrite, test splits: 4; the
frozen model decodes with :data:`~alignpro_lite.llm.frozen.PI_F_DECODING`)::

    alignpro-lite estimate --task all --split train --samples 8 --out data/tables
    alignpro-lite estimate --task all --split test --samples 4 --out data/tables

Files per (task, split): ``{task}_{split}.json`` (the problem format of ``data/README.md``, each
candidate with extra ``se``, ``sim`` and ``kind`` fields) and ``{task}_{split}_samples.jsonl``
(one line per candidate: the answers and their rewards).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from alignpro_lite.atomic import tmp_path
from alignpro_lite.config import data_dir
from alignpro_lite.exact import schema
from alignpro_lite.exact.problems import DiscreteProblem
from alignpro_lite.llm.frozen import PI_F_DECODING

DEFAULT_SAMPLING = PI_F_DECODING.kwargs()  # the one frozen model (alignpro_lite.llm.frozen)


@dataclass
class TaskTable:
    """An estimated table for one task split, with its samples and preservation scores."""

    problem: DiscreteProblem
    sim: np.ndarray  # (n_x, n_c) cos(x, x'), 0 in padding
    kinds: list[list[str]]  # "original" / "instruction" / "bad" per candidate
    samples: list[dict]  # one per (prompt, candidate): responses and rewards
    meta: dict


def table_path(task: str, split: str, folder: str | Path | None = None) -> Path:
    return Path(folder or data_dir() / "tables") / f"{task}_{split}.json"


def estimate_task_table(
    task: str,
    split: str,
    model=None,
    tok=None,
    *,
    n: int = 4,
    seed: int = 0,
    chunk: int = 10,
    max_prompts: int | None = None,
    batch_size: int = 64,
    progress: bool = True,
    **sampling,
) -> TaskTable:
    """Monte-Carlo ``R(x, x')`` for every candidate of ``task``/``split`` (cached on disk).

    Prompts go to the estimator ``chunk`` at a time, so an interrupted run keeps the finished
    chunks in the cache and a rerun resumes from there.
    """
    from tqdm.auto import tqdm

    from alignpro_lite.llm import estimate, lm, semantics
    from alignpro_lite.llm.rewards import get_reward
    from alignpro_lite.llm.tasks import candidate_kinds, candidate_lists, load_task

    items = load_task(task, split)[:max_prompts]
    prompts, candidates = candidate_lists(items)
    kinds = candidate_kinds(items)
    if model is None:
        model, tok = lm.load_causal_lm()
    kwargs = {**DEFAULT_SAMPLING, **sampling}
    sampler = estimate.make_lm_sampler(model, tok, batch_size=batch_size, progress=False, **kwargs)
    reward = get_reward(task)
    parts = []
    for start in tqdm(range(0, len(prompts), chunk), desc=f"{task}/{split}", disable=not progress):
        parts.append(
            estimate.estimate_prompt_values(
                prompts[start : start + chunk],
                candidates[start : start + chunk],
                reward,
                sampler,
                n=n,
                seed=seed,
                reward_id=f"{reward.name}@{reward.version}",
            )
        )
    n_c = max(p.rewards.shape[1] for p in parts)
    rewards = np.full((len(prompts), n_c, n), np.nan)
    row = 0
    responses = []
    for p in parts:
        rewards[row : row + len(p.prompts), : p.rewards.shape[1]] = p.rewards
        responses += p.responses
        row += len(p.prompts)
    est = estimate.PromptValueEstimate(
        prompts=prompts, candidates=candidates, rewards=rewards, responses=responses, n=n, seed=seed
    )
    problem = est.to_problem(
        name=f"{task}_{split}",
        description=(
            f"{task} ({split}): R(x,x') estimated from {n} answers of the frozen LLM per rewrite, "
            f"reward {reward.name} in [{reward.r_min}, {reward.r_max}], rho_sft uniform over candidates."
        ),
    )
    problem.r_range = (float(reward.r_min), float(reward.r_max))
    sim = semantics.preservation_table(prompts, candidates)
    samples = [
        {
            "prompt_id": items[i].id,
            "c": j,
            "kind": kinds[i][j],
            "candidate": candidates[i][j],
            "responses": responses[i][j],
            "rewards": [float(v) for v in rewards[i, j]],
        }
        for i in range(len(prompts))
        for j in range(len(candidates[i]))
    ]
    meta = {
        "task": task,
        "split": split,
        "n": n,
        "seed": seed,
        "reward": f"{reward.name}@{reward.version}",
        "sampling": kwargs,
        "model": getattr(model, "alignpro_fingerprint", "?"),
    }
    if max_prompts is not None and len(items) < len(load_task(task, split)):
        meta["max_prompts"] = len(items)  # load_task_table checks against this prefix
    return TaskTable(problem=problem, sim=sim, kinds=kinds, samples=samples, meta=meta)


def save_task_table(table: TaskTable, folder: str | Path) -> list[Path]:
    """Write ``{task}_{split}.json`` and ``_samples.jsonl`` into ``folder`` (atomically each)."""
    from alignpro_lite.exact.problems import save_problem

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    name = table.problem.name
    path = save_problem(table.problem, folder / f"{name}.json")
    spec = json.loads(path.read_text())
    spec["meta"] = table.meta
    for i, entry in enumerate(spec["prompts"]):
        for j, cand in enumerate(entry["candidates"]):
            cand["sim"] = round(float(table.sim[i, j]), 4)
            cand["kind"] = table.kinds[i][j]
    tmp = tmp_path(path)
    tmp.write_text(json.dumps(spec, indent=1, ensure_ascii=False), encoding="utf-8")
    tmp.replace(path)
    spath = folder / f"{name}_samples.jsonl"
    tmp = tmp_path(spath)
    with open(tmp, "w", encoding="utf-8") as fh:
        for s in table.samples:
            fh.write(json.dumps(s, ensure_ascii=False) + "\n")
    tmp.replace(spath)
    return [path, spath]


def load_task_table(task: str, split: str, folder: str | Path | None = None) -> TaskTable:
    """Load an estimated table (``data/tables``) with its preservation scores and samples.

    Checks, with a ``ValueError`` naming the file, the location and the field:

    * the table file against the schema of a generated table (``data/README.md``: every
      candidate has ``R``, ``V``, ``se``, ``sim`` in [-1, 1] and ``kind``; ``reward_range`` is
      given and holds every ``R``);
    * the table against the task file ``data/tasks/{task}_{split}.jsonl``: the same prompts in
      the same order (the first ``meta.max_prompts`` ones when the table was made with
      ``--max-prompts``), the same candidate texts and kinds; ``meta.task``/``meta.split``;
    * the samples file ``{task}_{split}_samples.jsonl`` (required): one line per (prompt,
      candidate) in table order with the right ``prompt_id``, ``c``, ``kind`` and ``candidate``,
      rewards inside ``reward_range`` whose mean and variance are the table's ``R`` and ``V``.
      Blank lines (a trailing newline, blank lines at the end) are fine.
    """
    from alignpro_lite.exact.problems import build_problem, check_problem_spec
    from alignpro_lite.llm.tasks import load_task, task_path

    path = table_path(task, split, folder)
    if not path.exists():
        raise ValueError(
            f"no estimated table {path}. Generate it with: alignpro-lite estimate --task {task} "
            f"--split {split} --out {path.parent}"
        )
    regen = (
        f"regenerate it with: alignpro-lite estimate --task {task} --split {split} "
        f"--out {path.parent}"
    )
    spec = schema.load_json(path, "estimated table")
    try:
        clean = check_problem_spec(spec, form="estimated", table=True)
        problem = build_problem(clean)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None
    meta = clean.get("meta", {})
    for key, want in (("task", task), ("split", split)):
        if key in meta and meta[key] != want:
            raise ValueError(
                f"{path}: field 'meta.{key}' is {meta[key]!r}, but the file name says "
                f"{key} {want!r}; rename the file or {regen}."
            )

    items = load_task(task, split)
    tpath = task_path(task, split)
    if "max_prompts" in meta:
        items = items[: meta["max_prompts"]]
    entries = clean["prompts"]
    if len(entries) != len(items):
        made = f" (meta.max_prompts = {meta['max_prompts']})" if "max_prompts" in meta else ""
        raise ValueError(
            f"{path}: field 'prompts': the table has {len(entries)} prompts but the task file "
            f"{tpath} has {len(items)}{made}; the table is out of date: {regen}."
        )
    for i, (entry, item) in enumerate(zip(entries, items)):
        _check_entry_matches_task(path, i, entry, item, tpath, regen)

    spath = path.with_name(f"{path.stem}_samples.jsonl")
    if not spath.is_file():
        raise ValueError(
            f"{spath}: the samples file of table {path.name} is missing (the answers behind "
            f"every R); {regen}."
        )
    samples = _load_samples(spath, clean, items, meta.get("n"), regen)
    sim = np.zeros_like(problem.R)
    kinds = []
    for i, entry in enumerate(entries):
        kinds.append([c["kind"] for c in entry["candidates"]])
        sim[i, : len(entry["candidates"])] = [c["sim"] for c in entry["candidates"]]
    return TaskTable(problem=problem, sim=sim, kinds=kinds, samples=samples, meta=meta)


def _check_entry_matches_task(path, i, entry, item, tpath, regen) -> None:
    at = f"{path}: prompt {i}"
    if entry["text"] != item.prompt:
        raise ValueError(
            f"{at}, field 'text': {entry['text'][:60]!r} is not prompt {i} of the task file "
            f"{tpath} (id {item.id!r}: {item.prompt[:60]!r}); the prompts must be the same and "
            f"in the same order: {regen}."
        )
    cands = entry["candidates"]
    if len(cands) != len(item.candidates):
        raise ValueError(
            f"{at}, field 'candidates': {len(cands)} candidates but prompt {item.id!r} of the "
            f"task file {tpath} has {len(item.candidates)}: {regen}."
        )
    for j, (c, t) in enumerate(zip(cands, item.candidates)):
        for key, got, want in (("text", c["text"], t.text), ("kind", c["kind"], t.kind)):
            if got != want:
                raise ValueError(
                    f"{at}, candidate {j}, field '{key}': {got[:60]!r} differs from candidate "
                    f"{j} of prompt {item.id!r} in the task file {tpath} ({want[:60]!r}): {regen}."
                )


def _load_samples(spath: Path, clean: dict, items, n: int | None, regen: str) -> list[dict]:
    """Check the samples file line by line against the table and the task file."""
    lo, hi = clean["reward_range"]
    tol = 1e-9 * (hi - lo)
    expected = [
        (item.id, j, cand)
        for item, entry in zip(items, clean["prompts"])
        for j, cand in enumerate(entry["candidates"])
    ]
    samples: list[dict] = []
    last = 0
    for k, (lineno, line) in enumerate(schema.jsonl_lines(spath, "samples file")):
        where = f"{spath}, line {lineno}"
        last = lineno
        try:
            record = schema.parse_json(line)
        except ValueError as err:
            raise ValueError(f"{where}: {err}") from None
        try:
            rec = schema.SAMPLES_LINE.check(record, schema.at(f"line {lineno}"))
        except ValueError as err:
            raise ValueError(f"{spath}, {err}") from None
        got = (rec["prompt_id"], rec["c"])
        if k >= len(expected):
            raise ValueError(
                f"{where}: extra line for (prompt_id {got[0]!r}, c {got[1]}); the table has "
                f"{len(expected)} candidates in all, one line each: {regen}."
            )
        pid, j, cand = expected[k]
        if got != (pid, j):
            raise ValueError(
                f"{where}: expected the answers of (prompt_id {pid!r}, c {j}), got (prompt_id "
                f"{got[0]!r}, c {got[1]}): a line is missing, extra or out of order (one line "
                f"per candidate, in table order): {regen}."
            )
        for key, want in (("kind", cand["kind"]), ("candidate", cand["text"])):
            if rec[key] != want:
                raise ValueError(
                    f"{where}, field '{key}': {rec[key][:60]!r} differs from the table's "
                    f"candidate {j} of prompt {pid!r} ({want[:60]!r}): {regen}."
                )
        rewards = rec["rewards"]
        if len(rec["responses"]) != len(rewards):
            raise ValueError(
                f"{where}, field 'rewards': {len(rewards)} rewards for {len(rec['responses'])} "
                "responses; give one reward per response."
            )
        if n is not None and len(rewards) != n:
            raise ValueError(
                f"{where}, field 'rewards': {len(rewards)} rewards, but meta.n says {n} answers "
                f"per rewrite: {regen}."
            )
        for m, v in enumerate(rewards):
            if not lo - tol <= v <= hi + tol:
                raise ValueError(
                    f"{where}, field 'rewards'[{m}]: {v:g} is outside the table's reward_range "
                    f"[{lo:g}, {hi:g}]: {regen}."
                )
        arr = np.asarray(rewards)
        atol = 1e-6 * (hi - lo)
        checks = [("R", float(arr.mean()))]
        if len(arr) >= 2:
            checks.append(("V", float(arr.var(ddof=1))))
        for key, value in checks:
            if abs(cand[key] - value) > atol:
                what = "mean" if key == "R" else "variance (ddof=1)"
                raise ValueError(
                    f"{where}, field 'rewards': their {what} {value:.6g} disagrees with "
                    f"{key} = {cand[key]:.6g} of candidate {j} of prompt {pid!r} in the table; "
                    f"the two files do not belong together: {regen}."
                )
        samples.append(rec)
    if len(samples) < len(expected):
        pid, j, _ = expected[len(samples)]
        raise ValueError(
            f"{spath}: {len(samples)} lines but the table has {len(expected)} candidates; the "
            f"answers of (prompt_id {pid!r}, c {j}) onwards are missing (after line {last}): "
            f"{regen}."
        )
    return samples
