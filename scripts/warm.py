"""Warm the caches a class needs, once per machine, before the first notebook runs.

The first load of the embedded SmolLM2 dequantises its GGUF into ``cache_dir()/models`` (about
half a minute on 2 cores; every later load reads that copy in about a second), and the sentence
encoder, the tokenizer and the rewards' lexicons load on first use. Run ``make warm`` before
class, so that notebook 05 takes its listed time instead of the cold one. Prints what it warmed
and how long each took.
"""

from __future__ import annotations

import time


def main() -> int:
    t0 = time.perf_counter()
    from alignpro_lite.llm.lm import load_causal_lm

    load_causal_lm(device="cpu")
    t1 = time.perf_counter()
    print(f"embedded SmolLM2 cached and loaded: {t1 - t0:.1f} s")
    from alignpro_lite.llm.rewards import get_reward
    from alignpro_lite.llm.semantics import preservation
    from alignpro_lite.llm.tasks import load_task

    for task in ("kindness", "harmlessness", "helpfulness"):
        x = load_task(task, "train")[0].prompt  # rewards judge a known original prompt
        get_reward(task)([x], ["Thank you so much, that is kind of you."])
    t2 = time.perf_counter()
    print(f"rewards of the three tasks: {t2 - t1:.1f} s")
    preservation(["How do I say thanks?"], ["How can I thank someone?"])
    print(f"sentence encoder: {time.perf_counter() - t2:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
