"""The sample bank of route (b): everything drawn from the reference policies ONCE, on disk.

Route (b) fits the prompter to ``rho* ∝ rho_sft · exp(R/λ)`` by reweighting samples of
``rho_sft`` (:mod:`alignpro_lite.exact.distill`). The samples do not depend on λ, so they are
drawn once per task and every λ costs only a refit (:mod:`alignpro_lite.learn.distill`):

* **rewrites** ``x'_j ~ rho_sft(·|x)``, ``j < n_rewrites + n_heldout`` per train prompt (the last
  ``n_heldout`` are held out of every fit, for the implicit-reward check), their exact token ids,
  ``log rho_sft(x'_j|x)`` at the prompter's temperature and ``sim(x, x'_j)`` (MiniLM cosine);
* **answers** ``y_ja ~ pi_F(·|x'_j)``, ``a < n_answers``, each scored against the ORIGINAL ``x``
  by the task reward (and the gold judge, for reference);
* **responses** (RLHF's bank) ``y_k ~ pi_ref(·|x)``, ``k < n_responses``, with their ids, reward
  and ``log pi_ref(y_k|x)`` at the policy temperature.

The estimated value of a rewrite sample (:func:`rewrite_values`) is the mean reward of its own
answers minus a **hinge** preservation penalty
``mu · max(0, tau - sim(x, x'))``: zero for any rewrite that keeps the meaning (``sim >= tau``),
so copying ``x`` earns nothing over a faithful rewrite (the old linear ``mu (1 - sim)`` paid a
bonus for copying).

Every sample draws from its own stream ``row_seed(seed_base, j, x)``, so a bank is a function of
its :class:`BankSpec` and the model. Each stage writes its file atomically and records the file's
SHA-256 in ``manifest.json``; :func:`build_bank` skips a stage whose file matches its checksum and
resumes at the first missing one. A bank made with other settings, or a file that fails its
checksum, is a ``ValueError`` naming the folder and what to do.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from alignpro_lite.atomic import write_text_atomic
from alignpro_lite.exact.validate import what_changed
from alignpro_lite.llm.frozen import PI_F_DECODING
from alignpro_lite.llm.lm import (
    SAMPLE_BATCH,
    chat_format,
    row_seed,
    same_model,
    sample_ids,
    token_logprobs,
)
from alignpro_lite.llm.lora import sampling, use_adapter

__all__ = [
    "BankSpec",
    "STAGES",
    "bank_files",
    "build_bank",
    "load_bank",
    "rewrite_values",
    "response_values",
    "hinge_penalty",
]

STAGES = ("rewrites", "answers", "responses")
FILES = {"rewrites": "rewrites.jsonl", "answers": "answers.jsonl", "responses": "responses.jsonl"}
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class BankSpec:
    """What a task's bank holds; the defaults are the shipped replication (2,160 rollouts per
    method: 60 prompts x 12 rewrites x 3 answers for the prompter, 60 x 36 responses for RLHF)."""

    task: str
    split: str = "train"
    n_prompts: int | None = None  # None: every prompt of the split
    n_rewrites: int = 12
    n_heldout: int = 2
    n_answers: int = 3
    n_responses: int = 36
    rewrite_tokens: int = 32
    answer_tokens: int = PI_F_DECODING.max_new_tokens  # the frozen model's and pi_ref's budget
    temperature: float = 0.7  # the prompter's and the RLHF policy's sampling temperature
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("n_rewrites", "n_answers", "n_responses", "rewrite_tokens", "answer_tokens"):
            v = getattr(self, name)
            if isinstance(v, bool) or int(v) != v or v < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {v!r}.")
        if int(self.n_heldout) != self.n_heldout or self.n_heldout < 0:
            raise ValueError(f"n_heldout must be an integer >= 0, got {self.n_heldout!r}.")
        if self.n_prompts is not None and (
            int(self.n_prompts) != self.n_prompts or self.n_prompts < 1
        ):
            raise ValueError(f"n_prompts must be None or an integer >= 1, got {self.n_prompts!r}.")
        if not self.temperature > 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature!r}.")

    def seed_base(self, stage: str) -> int:
        """The base of the row seeds of a stage (distinct per stage and training seed)."""
        return 1_000_003 * (int(self.seed) + 1) + STAGES.index(stage)


# what a changed manifest entry is called in the refusal (what_changed)
CHANGE_NAMES = {
    "reference": "the rho_sft adapter (SHA-256 of its weights; was it edited or retrained?)",
    "model": "the frozen model's fingerprint",
    "spec": "bank setting",
    "pi_F_decoding": "pi_F's decoding",
}


def hinge_penalty(sim, mu: float = 1.0, tau: float = 0.6) -> np.ndarray:
    """``mu · max(0, tau - sim)``: no penalty for a rewrite at least ``tau`` similar to ``x``.

    ``tau = 0.6`` was chosen on the TRAIN candidates: every template type keeps a median MiniLM
    cosine above 0.77 (the one-shot wrapper excepted), the ``bad`` rewrites that change the
    question average 0.39-0.54.
    """
    s = np.asarray(sim, dtype=float)
    if mu < 0 or not np.isfinite(mu):
        raise ValueError(f"mu must be finite and >= 0, got {mu!r}.")
    return mu * np.maximum(0.0, tau - s)


def bank_files(folder: str | Path) -> dict[str, Path]:
    folder = Path(folder)
    return {s: folder / f for s, f in FILES.items()}


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _write_atomic(path: Path, text: str) -> None:
    write_text_atomic(path, text)


def _read_manifest(folder: Path) -> dict | None:
    path = folder / MANIFEST
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(
            f"{path} is not valid JSON ({err}); delete the bank folder {folder} to rebuild it."
        ) from None


def _migrate_manifest(manifest: dict) -> dict:
    """A manifest written before ``answer_tokens`` and ``reference`` were recorded: those banks
    drew answers with ``PI_F_DECODING.max_new_tokens`` and did not fingerprint the reference."""
    m = json.loads(json.dumps(manifest))
    m["spec"].setdefault("answer_tokens", PI_F_DECODING.max_new_tokens)
    m.setdefault("reference", None)
    return m


def _stage_done(folder: Path, manifest: dict, stage: str) -> bool:
    """True if ``stage``'s file is there and matches the checksum the manifest recorded."""
    rec = manifest.get("stages", {}).get(stage)
    path = folder / FILES[stage]
    if rec is None or not path.is_file():
        return False
    if _sha256(path) != rec["sha256"]:
        raise ValueError(
            f"{path} does not match the checksum in {folder / MANIFEST} (changed or truncated); "
            f"delete it and the stages drawn from it to redraw them, or the whole bank folder."
        )
    up = rec.get("from")
    if up is not None and up != manifest["stages"].get("rewrites", {}).get("sha256"):
        raise ValueError(
            f"{path} was drawn from another rewrites.jsonl than the one in {folder}; delete "
            f"{FILES[stage]} to redraw it from the current rewrites."
        )
    return True


def _load_prompts(spec: BankSpec):
    from alignpro_lite.llm.tasks import load_task

    ps = load_task(spec.task, spec.split)
    return ps if spec.n_prompts is None else ps[: int(spec.n_prompts)]


def _frame_to_jsonl(df: pd.DataFrame) -> str:
    return df.to_json(orient="records", lines=True, force_ascii=False)


def build_bank(
    spec: BankSpec,
    folder: str | Path,
    model,
    tok,
    *,
    sft_adapter: str | None = "sft",
    reference: str | None = None,
    progress: bool = True,
    batch_size: int = SAMPLE_BATCH,
) -> dict[str, pd.DataFrame]:
    """Draw (or resume) the bank of ``spec`` into ``folder``; returns :func:`load_bank`'s frames.

    ``model`` holds the reference prompter as LoRA adapter ``sft_adapter`` (``None``: the base
    model rewrites). The frozen model and ``pi_ref`` are the base model with adapters disabled,
    decoding with :data:`~alignpro_lite.llm.frozen.PI_F_DECODING` (``spec.answer_tokens`` new
    tokens). ``reference``: a fingerprint of the reference prompter's weights (e.g. the SHA-256 of
    its adapter file), recorded and checked on resume like the base model's. Each stage records the
    checksum of the stage it was drawn from; a redrawn upstream stage makes the bank refuse to load.
    """
    from alignpro_lite.learn.generative import REWRITE_SYSTEM, clean_rewrite
    from alignpro_lite.llm.judges import gold_judge
    from alignpro_lite.llm.rewards import get_reward
    from alignpro_lite.llm.semantics import preservation

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model_id = getattr(model, "alignpro_fingerprint", None)
    if model_id is None:
        raise ValueError("the model has no alignpro_fingerprint; load it with load_causal_lm.")
    want = {"spec": asdict(spec), "model": model_id, "reference": reference,
            "pi_F_decoding": PI_F_DECODING.kwargs()}  # fmt: skip
    manifest = _read_manifest(folder)
    if manifest is not None:
        manifest = _migrate_manifest(manifest)
    if manifest is not None and same_model(manifest.get("model"), model_id):
        manifest["model"] = model_id  # the same weights under an earlier fingerprint
    if manifest is not None and {k: manifest.get(k) for k in want} != want:
        changed = what_changed({k: manifest.get(k) for k in want}, want, CHANGE_NAMES)
        raise ValueError(
            f"the bank in {folder} was drawn with other settings: {changed}. Use the same "
            "settings and the same rho_sft adapter to resume it, or another folder."
        )
    manifest = manifest or {**want, "stages": {}}
    ps = _load_prompts(spec)
    xs = [p.prompt for p in ps]
    keys = [p.id for p in ps]
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    T = float(spec.temperature)
    n_rw = int(spec.n_rewrites) + int(spec.n_heldout)
    reward, gold = get_reward(spec.task), gold_judge(spec.task)
    kw = dict(batch_size=batch_size, progress=progress)

    def record(stage: str, df: pd.DataFrame, t0: float) -> None:
        path = folder / FILES[stage]
        _write_atomic(path, _frame_to_jsonl(df))
        manifest["stages"][stage] = {"sha256": _sha256(path), "rows": len(df),
                                     "seconds": round(time.perf_counter() - t0, 1)}  # fmt: skip
        if stage == "answers":  # drawn from these rewrites
            manifest["stages"][stage]["from"] = manifest["stages"]["rewrites"]["sha256"]
        _write_atomic(folder / MANIFEST, json.dumps(manifest, indent=1, ensure_ascii=False))

    with torch.no_grad():
        if not _stage_done(folder, manifest, "rewrites"):
            t0 = time.perf_counter()
            base = spec.seed_base("rewrites")
            streams = [[row_seed(base, j, x) for j in range(n_rw)] for x in xs]
            with use_adapter(model, sft_adapter):
                with sampling(model, sft_adapter):  # adapter folded into the weights
                    ids = sample_ids(model, tok, xs, n=n_rw, system=REWRITE_SYSTEM,
                                     max_new_tokens=int(spec.rewrite_tokens), temperature=T,
                                     top_p=1.0, streams=streams, **kw)  # fmt: skip
                flat = [r for row in ids for r in row]
                p_ids = tok([chat_format(tok, x, REWRITE_SYSTEM) for x in xs],
                            add_special_tokens=False)["input_ids"]  # fmt: skip
                lp = token_logprobs(model, [p_ids[i] for i in range(len(xs)) for _ in range(n_rw)],
                                    flat, temperature=T, pad_id=pad)  # fmt: skip
            texts = [clean_rewrite(t) for t in tok.batch_decode(flat, skip_special_tokens=True)]
            flat_x = [x for x in xs for _ in range(n_rw)]
            df = pd.DataFrame({
                "prompt_id": np.repeat(np.arange(len(xs)), n_rw),
                "prompt_key": np.repeat(keys, n_rw),
                "j": np.tile(np.arange(n_rw), len(xs)),
                "heldout": np.tile(np.arange(n_rw) >= int(spec.n_rewrites), len(xs)),
                "x": flat_x,
                "x_prime": texts,
                "ids": flat,
                "logp_sft": lp.double().cpu().numpy(),
                "sim": preservation(flat_x, [t if t else " " for t in texts]),
                "copy": [t.strip() == x.strip() for x, t in zip(flat_x, texts, strict=True)],
            })  # fmt: skip
            record("rewrites", df, t0)
        rw = _read_jsonl(folder / FILES["rewrites"])

        if not _stage_done(folder, manifest, "answers"):
            t0 = time.perf_counter()
            base = spec.seed_base("answers")
            na = int(spec.n_answers)
            texts = [t if t.strip() else " " for t in rw["x_prime"]]
            streams = [[row_seed(base, j * na + a, x) for a in range(na)]
                       for x, j in zip(rw["x"], rw["j"], strict=True)]  # fmt: skip
            with use_adapter(model, None):
                dec = {**PI_F_DECODING.kwargs(), "max_new_tokens": int(spec.answer_tokens)}
                ids = sample_ids(model, tok, texts, n=na, streams=streams, **dec, **kw)
            ys = [t.strip() for row in ids for t in tok.batch_decode(row, skip_special_tokens=True)]
            flat_x = np.repeat(rw["x"].to_numpy(), na).tolist()
            df = pd.DataFrame({
                "prompt_id": np.repeat(rw["prompt_id"].to_numpy(), na),
                "j": np.repeat(rw["j"].to_numpy(), na),
                "a": np.tile(np.arange(na), len(rw)),
                "y": ys,
                "reward": reward(flat_x, ys),
                "gold": gold(flat_x, ys),
            })  # fmt: skip
            record("answers", df, t0)

        if not _stage_done(folder, manifest, "responses"):
            t0 = time.perf_counter()
            base = spec.seed_base("responses")
            nr = int(spec.n_responses)
            streams = [[row_seed(base, k, x) for k in range(nr)] for x in xs]
            dec = {**PI_F_DECODING.kwargs(), "temperature": T, "top_p": 1.0,
                   "max_new_tokens": int(spec.answer_tokens)}  # fmt: skip
            with use_adapter(model, None):
                ids = sample_ids(model, tok, xs, n=nr, streams=streams, **dec, **kw)
                flat = [r for row in ids for r in row]
                p_ids = tok([chat_format(tok, x) for x in xs], add_special_tokens=False)[
                    "input_ids"
                ]
                lp = token_logprobs(model, [p_ids[i] for i in range(len(xs)) for _ in range(nr)],
                                    flat, temperature=T, pad_id=pad)  # fmt: skip
            ys = [t.strip() for t in tok.batch_decode(flat, skip_special_tokens=True)]
            flat_x = [x for x in xs for _ in range(nr)]
            df = pd.DataFrame({
                "prompt_id": np.repeat(np.arange(len(xs)), nr),
                "prompt_key": np.repeat(keys, nr),
                "k": np.tile(np.arange(nr), len(xs)),
                "x": flat_x,
                "y": ys,
                "ids": flat,
                "logp_ref": lp.double().cpu().numpy(),
                "reward": reward(flat_x, ys),
                "gold": gold(flat_x, ys),
            })  # fmt: skip
            record("responses", df, t0)
    return load_bank(folder)


def _read_jsonl(path: Path) -> pd.DataFrame:
    return pd.read_json(path, orient="records", lines=True, dtype=False)


def load_bank(folder: str | Path) -> dict[str, pd.DataFrame]:
    """The bank's frames (``rewrites``, ``answers``, ``responses``) and its ``manifest``, every
    file checked against its checksum. ``ValueError`` naming the file if one is missing or bad."""
    folder = Path(folder)
    manifest = _read_manifest(folder)
    if manifest is not None:
        manifest = _migrate_manifest(manifest)
    if manifest is None:
        raise ValueError(
            f"{folder} holds no sample bank ({MANIFEST} is missing); build it with "
            "`alignpro-lite replicate`."
        )
    out: dict = {"manifest": manifest}
    for stage in STAGES:
        if not _stage_done(folder, manifest, stage):
            raise ValueError(
                f"the bank in {folder} has no finished {stage!r} stage; run `alignpro-lite "
                "replicate` again to resume it."
            )
        out[stage] = _read_jsonl(folder / FILES[stage])
    return out


def rewrite_values(
    bank: dict[str, pd.DataFrame], mu: float = 1.0, tau: float = 0.6
) -> pd.DataFrame:
    """The ``rewrites`` frame with ``R_hat``: the mean task reward of the frozen model's answers to
    THIS sample ``x'_j`` (its own ``n_answers``, never pooled with other samples: every row then
    has the same noise, so the noise's effect on ``exp(R̂/λ)`` cancels in the self-normalised
    weights, and held-out rows never feed a fitted row's value), minus :func:`hinge_penalty`;
    ``n_answers`` behind it and ``se``, its standard error."""
    rw, ans = bank["rewrites"], bank["answers"]
    g = ans.groupby(["prompt_id", "j"])["reward"]
    stats = pd.DataFrame({"task_reward": g.mean(), "n_answers": g.size(), "sd": g.std(ddof=1)})
    out = rw.merge(stats.reset_index(), on=["prompt_id", "j"], how="left", validate="one_to_one")
    out["se"] = out["sd"] / np.sqrt(out["n_answers"])
    out["penalty"] = hinge_penalty(out["sim"].to_numpy(), mu, tau)
    out["R_hat"] = out["task_reward"] - out["penalty"]
    return out.drop(columns="sd")


def response_values(bank: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """RLHF's bank: the ``responses`` frame, ``r(x, y)`` as ``R_hat`` (observed, not estimated)."""
    return bank["responses"].assign(R_hat=bank["responses"]["reward"])
