"""Prompt-value tables estimated from a real LLM for the task data sets (shipped in ``data/tables``).

``estimate_task_table`` samples ``n`` answers of the frozen model to every candidate rewrite of
a task split, scores them against the *original* prompt with the task's reward, and returns a
:class:`~alignpro_lite.problems.DiscreteProblem` in estimated form (``R``, ``V``, ``se``),
plus the per-answer samples and the semantic preservation ``cos(x, x')`` of every rewrite.

Regenerate the shipped tables with (test splits: 4 answers of <= 32 tokens per rewrite; train
splits: 2 answers of <= 24 tokens, to fit the CPU budget)::

    alignpro-lite estimate --task all --split test --samples 4 --max-new-tokens 32 --out data/tables
    alignpro-lite estimate --task all --split train --samples 2 --max-new-tokens 24 --out data/tables

Files per (task, split): ``{task}_{split}.json`` (the problem format of ``data/README.md``, each
candidate with extra ``se``, ``sim`` and ``kind`` fields) and ``{task}_{split}_samples.jsonl``
(one line per candidate: the answers and their rewards).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from alignpro_lite.config import data_dir
from alignpro_lite.problems import DiscreteProblem, load_problem

DEFAULT_SAMPLING = {"max_new_tokens": 32, "temperature": 0.7, "top_p": 0.9}


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

    from alignpro_lite import estimate, lm, semantics
    from alignpro_lite.rewards import get_reward
    from alignpro_lite.tasks import candidate_kinds, candidate_lists, load_task

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
    return TaskTable(problem=problem, sim=sim, kinds=kinds, samples=samples, meta=meta)


def save_task_table(table: TaskTable, folder: str | Path) -> list[Path]:
    """Write ``{task}_{split}.json`` and ``_samples.jsonl`` into ``folder`` (atomically each)."""
    from alignpro_lite.problems import save_problem

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
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(spec, indent=1, ensure_ascii=False), encoding="utf-8")
    tmp.replace(path)
    spath = folder / f"{name}_samples.jsonl"
    tmp = spath.with_suffix(".jsonl.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        for s in table.samples:
            fh.write(json.dumps(s, ensure_ascii=False) + "\n")
    tmp.replace(spath)
    return [path, spath]


def load_task_table(task: str, split: str, folder: str | Path | None = None) -> TaskTable:
    """Load a shipped table (``data/tables``) with its preservation scores and samples."""
    path = table_path(task, split, folder)
    if not path.exists():
        raise ValueError(
            f"no estimated table {path}. Generate it with: alignpro-lite estimate --task {task} "
            f"--split {split} --out {path.parent}"
        )
    problem = load_problem(path)
    spec = json.loads(path.read_text(encoding="utf-8"))
    sim = np.zeros_like(problem.R)
    kinds = []
    for i, entry in enumerate(spec["prompts"]):
        kinds.append([c.get("kind", "?") for c in entry["candidates"]])
        for j, cand in enumerate(entry["candidates"]):
            sim[i, j] = float(cand.get("sim", 0.0))
    samples = []
    spath = path.with_name(f"{path.stem}_samples.jsonl")
    if spath.exists():
        for k, line in enumerate(spath.read_text(encoding="utf-8").splitlines(), 1):
            try:
                samples.append(json.loads(line))
            except json.JSONDecodeError:
                raise ValueError(f"{spath}:{k}: not valid JSON; regenerate the table.") from None
    return TaskTable(
        problem=problem, sim=sim, kinds=kinds, samples=samples, meta=spec.get("meta", {})
    )
