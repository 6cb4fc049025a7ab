"""Make the kindness preference data and train the shipped Bradley-Terry reward model.

    HF_HUB_OFFLINE=1 .venv/bin/python scripts/make_preference_pairs.py            # everything
    HF_HUB_OFFLINE=1 .venv/bin/python scripts/make_preference_pairs.py --skip-generation
                                                   # reuse the answers, redo pairs/embeddings/head

One generation pass serves both the reward model and the over-optimisation study: the embedded
SmolLM2-135M-Instruct answers EVERY candidate rewrite (6) of the 30 kindness test prompts,
``N_ANSWERS`` = 2 times each (temperature 1.0, top-p 0.95, 32 new tokens, seeded), and each
answer gets its gold reward (VADER compound, ``get_reward("kindness")``). The prompts are cut
into ``N_FOLDS`` = 3 seeded folds of 10: fold 0 is the held-out ``test`` split of the pairs,
folds 1-2 the ``train`` split; the over-optimisation study cross-fits (a reward model trained
without a fold scores that fold), so no prompt is scored by a model that saw its pairs.

Writes under ``data/preferences/`` (schema in ``data/preferences/README.md``):

* ``kindness_answers.jsonl`` - one line per answer, with its gold reward and fold;
* ``kindness_pairs.jsonl`` - all pairs of answers to the same ORIGINAL prompt whose gold rewards
  differ by at least ``MIN_MARGIN`` (ties carry no preference), ``chosen`` = higher gold reward,
  then a seeded ``NOISE_RATE`` = 10 % of the labels flipped (``flipped`` records which);
* ``kindness_embeddings.npz`` - MiniLM embeddings (float16) of every prompt and answer, so the
  notebook never loads the encoder;
* ``kindness_bt_head.npz`` (+ ``kindness_bt_metrics.json``) - the head trained on the train split.

Generation: 360 answers in batches of 90, a few minutes on 2 busy CPU cores; the rest ~30 s.
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from pathlib import Path

import numpy as np

from alignpro_lite.config import data_dir, seed_everything
from alignpro_lite.llm.rewards import get_reward
from alignpro_lite.llm.tasks import load_task

SEED = 0
TASK_SPLIT = "test"  # the kindness prompts answered (all their candidates)
MAX_NEW_TOKENS = 32
TEMPERATURE = 1.0
TOP_P = 0.95
BATCH_SIZE = 90
N_ANSWERS = 2  # answers per (prompt, candidate)
N_FOLDS = 3  # folds of prompts; fold 0 = the held-out test split of the pairs
NOISE_RATE = 0.10  # fraction of pair labels flipped
MIN_MARGIN = 0.05  # minimum |gold(chosen) - gold(rejected)| for a pair


def out_dir() -> Path:
    path = data_dir() / "preferences"
    path.mkdir(parents=True, exist_ok=True)
    return path


def folds(prompt_ids: list[str]) -> dict[str, int]:
    """Seeded assignment of prompts to ``N_FOLDS`` equal folds."""
    order = np.random.default_rng(SEED).permutation(len(prompt_ids))
    return {prompt_ids[j]: int(rank % N_FOLDS) for rank, j in enumerate(order)}


def generate_answers() -> list[dict]:
    """Sample ``N_ANSWERS`` answers to every candidate: one batched ``generate`` call."""
    from alignpro_lite.llm.lm import generate, load_causal_lm

    prompts = load_task("kindness", TASK_SPLIT)
    fold = folds([p.id for p in prompts])
    rows = [(p, c) for p in prompts for c in range(len(p.candidates))]
    model, tok = load_causal_lm()
    t0 = time.time()
    texts = generate(
        model,
        tok,
        [p.candidates[c].text for p, c in rows],
        n=N_ANSWERS,
        max_new_tokens=MAX_NEW_TOKENS,
        temperature=TEMPERATURE,
        top_p=TOP_P,
        seed=SEED,
        batch_size=BATCH_SIZE,
    )
    print(f"{len(rows)} rewrites x {N_ANSWERS} answers: {time.time() - t0:.0f} s")
    answers = []
    for (p, c), ys in zip(rows, texts, strict=True):
        for k, y in enumerate(ys):
            answers.append(
                {
                    "id": f"{p.id}/c{c}/a{k}",
                    "split": "test" if fold[p.id] == 0 else "train",
                    "fold": fold[p.id],
                    "prompt_id": p.id,
                    "prompt": p.prompt,
                    "candidate": c,
                    "kind": p.candidates[c].kind,
                    "rewrite": p.candidates[c].text,
                    "answer": y,
                }
            )
    gold = get_reward("kindness")
    scores = gold([a["prompt"] for a in answers], [a["answer"] for a in answers])
    for a, s in zip(answers, scores, strict=True):
        a["gold"] = round(float(s), 4)
    return answers


def make_pairs(answers: list[dict]) -> list[dict]:
    """All within-prompt pairs with a clear gold preference, with seeded label noise."""
    rng = np.random.default_rng(SEED + 1)
    by_prompt: dict[str, list[dict]] = {}
    for a in answers:
        by_prompt.setdefault(a["prompt_id"], []).append(a)
    pairs = []
    for pid, group in by_prompt.items():
        for a, b in itertools.combinations(group, 2):
            if abs(a["gold"] - b["gold"]) < MIN_MARGIN:
                continue
            win, lose = (a, b) if a["gold"] > b["gold"] else (b, a)
            flipped = bool(rng.random() < NOISE_RATE)
            if flipped:
                win, lose = lose, win
            pairs.append(
                {
                    "split": a["split"],
                    "fold": a["fold"],
                    "prompt_id": pid,
                    "chosen": win["id"],
                    "rejected": lose["id"],
                    "flipped": flipped,
                }
            )
    return pairs


def write_jsonl(path: Path, rows: list[dict]) -> None:
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    path.write_text(text, encoding="utf-8")
    print(f"wrote {path} ({len(rows)} lines, {path.stat().st_size / 1e3:.0f} kB)")


def write_embeddings(answers: list[dict]) -> None:
    from alignpro_lite.learn.reward_model import EMBEDDINGS_FILE, save_embeddings
    from alignpro_lite.llm.semantics import embed

    texts = sorted({a["prompt"] for a in answers} | {a["answer"] for a in answers})
    save_embeddings(out_dir() / EMBEDDINGS_FILE, texts, embed(texts))
    print(f"embedded {len(texts)} texts")


def train_head() -> None:
    from alignpro_lite.learn.reward_model import (
        HEAD_FILE,
        METRICS_FILE,
        evaluate_reward_model,
        fit_bradley_terry,
        load_preferences,
    )

    data = load_preferences("kindness")
    rm = fit_bradley_terry(data.split("train"), seed=SEED)
    rm.save(out_dir() / HEAD_FILE)
    metrics = {
        split: evaluate_reward_model(rm, data.split(split)).summary() for split in ("train", "test")
    }
    (out_dir() / METRICS_FILE).write_text(json.dumps(metrics, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(metrics, indent=1))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-generation", action="store_true", help="reuse the answers file")
    parser.add_argument("--only-data", action="store_true", help="stop before the embeddings")
    args = parser.parse_args(argv)
    seed_everything(SEED)
    from alignpro_lite.learn.reward_model import ANSWERS_FILE, PAIRS_FILE

    answers_path = out_dir() / ANSWERS_FILE
    if args.skip_generation:
        answers = [json.loads(line) for line in answers_path.read_text().splitlines() if line]
    else:
        answers = generate_answers()
        write_jsonl(answers_path, answers)
    write_jsonl(out_dir() / PAIRS_FILE, make_pairs(answers))
    if args.only_data:
        return
    write_embeddings(answers)
    train_head()


if __name__ == "__main__":
    main()
