"""Training runs of the paper's experiment: one :class:`RunConfig` per run, trained by the ONE
loop of :mod:`alignpro_lite.learn.train` for both methods (notebooks 07–08).

    cfg = RunConfig(method="align-pro", task="kindness", lam=0.05)   # defaults = the shipped run
    res = train_run(cfg, "runs/alignpro-kindness")                  # SFT rho_sft, then RL; resumable

* ``align-pro``: the prompter adapter ``rho_θ(x'|x)`` (:class:`~alignpro_lite.learn.generative.PrompterPolicy`),
  reference ``rho_sft`` = the SFT adapter (:func:`~alignpro_lite.learn.generative.sft_prompter` on the
  "instruction" rewrites of all three tasks' TRAIN prompts), KL weight ``lam`` (λ), reward
  ``r(x, y) - mu (1 - sim(x, x'))`` with ``y`` the frozen model's answer to ``x'``;
* ``rlhf``: the responder adapter ``pi_θ(y|x)``, reference ``pi_ref`` = the frozen model, KL
  weight ``beta`` (β), reward ``r(x, y)``.
"""

from __future__ import annotations

import io
import json
import math
import os
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import pandas as pd
import torch

from alignpro_lite.atomic import (
    check_out_dir,
    out_lock,
    replace_folder,
    tmp_path,
    write_text_atomic,
)
from alignpro_lite.exact.schema import read_text, settings_record
from alignpro_lite.exact.validate import positive_scalar, what_changed
from alignpro_lite.learn import generative as G
from alignpro_lite.learn.train import (
    METRICS_NAME,
    TrainResult,
    checkpoint_files,
    load_checkpoint,
    train,
)
from alignpro_lite.llm import lora
from alignpro_lite.llm.frozen import PI_F_DECODING
from alignpro_lite.llm.lm import EMBEDDED
from alignpro_lite.llm.tasks import TASKS

METHODS = ("align-pro", "rlhf")
RUN_FILE = "run.json"
ADAPTER_DIR = "adapter"
SFT_DIR = "sft"
DEFAULT_KL_WEIGHT = 0.05  # λ and β of the shipped runs


# --------------------------------------------------------------------------- configuration
@dataclass(frozen=True)
class RunConfig:
    """Everything that defines a training run (saved as ``run.json`` in the run folder).

    The defaults are the shipped full run, sized for 2 CPU cores: a step generates
    ``batch_size * k`` rewrites and as many answers in one batched call each.

    KL weights have one name each: ``lam`` (λ, the prompter's KL to ``rho_sft``) for
    ``align-pro`` and ``beta`` (β, the LLM's KL to ``pi_ref``) for ``rlhf``; the other one is
    ``None``, and the method's own defaults to 0.05. ``temperature`` is the trained policy's
    sampling temperature; ``answer_temperature`` and ``answer_top_p`` are the FROZEN model's
    decoding when it answers a rewrite (Align-Pro's environment), separate settings; their
    defaults are the one frozen model's :data:`~alignpro_lite.llm.frozen.PI_F_DECODING`, which the
    tables and the evaluation use too.
    """

    method: str
    task: str
    lam: float | None = None
    beta: float | None = None
    steps: int = 10
    batch_size: int = 3
    k: int = 4
    lr: float = 5e-4
    mu: float = 0.5
    tau: float = 1.0
    rewrite_tokens: int = 32
    answer_tokens: int = PI_F_DECODING.max_new_tokens
    temperature: float = 0.7
    answer_temperature: float = PI_F_DECODING.temperature
    answer_top_p: float = PI_F_DECODING.top_p
    sft_steps: int = 24
    sft_adapter: str | None = None
    lora_r: int = 8
    seed: int = 0
    model: str = EMBEDDED
    checkpoint_every: int = 2

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}.")
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {self.task!r}.")
        own, other = ("lam", "beta") if self.method == "align-pro" else ("beta", "lam")
        if getattr(self, other) is not None:
            raise ValueError(
                f"{other} is not a setting of method {self.method!r}: its KL weight is {own} "
                f"({'λ' if own == 'lam' else 'β'}); leave {other} out."
            )
        value = DEFAULT_KL_WEIGHT if getattr(self, own) is None else getattr(self, own)
        object.__setattr__(self, own, positive_scalar(value, own))
        for name in ("lr", "temperature", "answer_temperature"):
            object.__setattr__(self, name, positive_scalar(getattr(self, name), name))
        if not 0 < self.answer_top_p <= 1:
            raise ValueError(f"answer_top_p must be in (0, 1], got {self.answer_top_p!r}.")
        for name in (
            "steps",
            "batch_size",
            "rewrite_tokens",
            "answer_tokens",
            "lora_r",
            "checkpoint_every",
        ):
            v = getattr(self, name)
            if isinstance(v, bool) or int(v) != v or v < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {v!r}.")
        if int(self.k) != self.k or self.k < 2:
            raise ValueError(f"k must be an integer >= 2 (leave-one-out baseline), got {self.k!r}.")
        if int(self.sft_steps) != self.sft_steps or self.sft_steps < 0:
            raise ValueError(
                f"sft_steps must be an integer >= 0 (0 = no SFT), got {self.sft_steps!r}."
            )
        if not (self.mu >= 0 and math.isfinite(self.mu)):
            raise ValueError(f"mu (preservation penalty) must be finite and >= 0, got {self.mu!r}.")
        if not (0 < self.tau <= 1):
            raise ValueError(f"tau (penalty threshold) must be in (0, 1], got {self.tau!r}.")

    @property
    def kl_weight(self) -> float:
        """The method's KL weight: λ for ``align-pro``, β for ``rlhf``."""
        return self.lam if self.method == "align-pro" else self.beta

    @property
    def label(self) -> str:
        return "Align-Pro" if self.method == "align-pro" else "RLHF"

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict, source: str | Path | None = None) -> RunConfig:
        """The inverse of :meth:`to_json`: every field present, with its type; other keys are
        ignored. ``ValueError`` naming the key (and ``source``, the file, if given) otherwise."""
        where = f"{source}: " if source is not None else ""
        if not isinstance(d, dict):
            raise ValueError(
                f"{where}expected a JSON object of run settings, got {type(d).__name__}."
            )
        d = migrate_run_config(d)
        names = [f.name for f in fields(cls)]
        if any(k not in names for k in d):  # a typo: named, with the closest key suggested
            try:
                run_file_schema().check(d)
            except ValueError as err:
                raise ValueError(
                    f"{where}{err} Fix the file or train into a fresh --out."
                ) from None
        missing = [name for name in names if name not in d]
        if missing:
            raise ValueError(
                f"{where}missing key{'s' if len(missing) > 1 else ''} "
                f"{', '.join(map(repr, missing))} (a run.json holds all of {', '.join(names)}); "
                "restore the file or train into a fresh --out."
            )
        for f in fields(cls):  # 10.0 for an integer setting: what json.dump of 10.0 wrote
            v = d[f.name]
            if str(f.type) == "int" and isinstance(v, float) and v.is_integer():
                d[f.name] = int(v)
        try:
            clean = run_file_schema().check(d)
        except ValueError as err:
            raise ValueError(f"{where}{err} Fix the file or train into a fresh --out.") from None
        kw = {f.name: clean[f.name] for f in fields(cls)}
        try:
            return cls(**kw)
        except ValueError as err:
            raise ValueError(f"{where}{err}") from None


def run_file_schema():
    """The pydantic schema of ``run.json`` (:func:`alignpro_lite.exact.schema.settings_record`:
    every :class:`RunConfig` field, strictly typed; no other key)."""
    global _RUN_FILE
    if _RUN_FILE is None:
        _RUN_FILE = settings_record(RunConfig, "run file")
    return _RUN_FILE


_RUN_FILE = None


def migrate_run_config(d: dict) -> dict:
    """A ``run.json`` of the first layout (before λ and β had their own keys) in today's keys.

    Old files stored the KL weight under ``lam`` for both methods (β for ``rlhf``) and one
    ``temperature`` for the policy and the frozen model's answers (``top_p`` 1); files written
    before the hinge penalty have no ``tau`` (their penalty was linear: ``tau = 1``). Returns a new
    dict; a current file comes back unchanged.
    """
    d = dict(d)
    if "method" in d and "mu" in d:
        d.setdefault("tau", 1.0)
    if "beta" in d or "answer_temperature" in d or "method" not in d:
        return d
    if d.get("method") == "rlhf" and "lam" in d:
        d["beta"], d["lam"] = d["lam"], None
    else:
        d.setdefault("beta", None)
    if "temperature" in d:
        d.setdefault("answer_temperature", d["temperature"])
        d.setdefault("answer_top_p", 1.0)
    return d


def read_run(run_dir: str | Path) -> RunConfig:
    """The :class:`RunConfig` saved in ``run_dir/run.json``.

    ``ValueError`` if ``run_dir`` is not a run folder, or naming ``run.json`` (and the key) if
    the file is not UTF-8 JSON of every :class:`RunConfig` field with the right types.
    """
    path = Path(run_dir) / RUN_FILE
    if not path.is_file():
        raise ValueError(f"{run_dir} is not a run folder ({RUN_FILE} is missing); train it first.")
    fix = "restore it or train into a fresh --out"
    text = read_text(path, "run settings file")
    try:
        d = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON ({err}); {fix}.") from None
    except RecursionError:
        raise ValueError(f"{path} is nested too deeply to be a run settings file; {fix}.") from None
    return RunConfig.from_json(d, source=path)


METRICS_COLUMNS = ("step", "reward_mean", "kl")  # what plot_training and the notebooks read


def read_metrics(run_dir: str | Path) -> pd.DataFrame | None:
    """``run_dir/metrics.csv`` (one row per training step), or ``None`` if there is none.

    ``ValueError`` naming the file if it is not UTF-8 CSV with numeric columns
    ``step, reward_mean, kl`` (the ones :func:`plot_training` draws).
    """
    path = Path(run_dir) / METRICS_NAME
    if not path.is_file():
        return None
    fix = "restore it, delete it (the report then skips the run's training curve) or retrain"
    text = read_text(path, "metrics file")
    try:
        m = pd.read_csv(io.StringIO(text))
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ValueError(f"{path} is not a CSV table ({first}); {fix}.") from None
    if not isinstance(m.index, pd.RangeIndex):  # pandas made the surplus fields an index
        raise ValueError(
            f"{path} is not a CSV table (rows have more fields than the header line); {fix}."
        )
    missing = [c for c in METRICS_COLUMNS if c not in m.columns]
    if missing:
        raise ValueError(
            f"{path} has no column{'s' if len(missing) > 1 else ''} {', '.join(map(repr, missing))} "
            f"(found {', '.join(map(str, m.columns[:8]))}); {fix}."
        )
    for c in METRICS_COLUMNS:
        if not pd.api.types.is_numeric_dtype(m[c]):
            bad = m[c][pd.to_numeric(m[c], errors="coerce").isna() & m[c].notna()]
            raise ValueError(
                f"{path}: column {c!r} is not numeric (row {bad.index[0] + 1}: "
                f"{bad.iloc[0]!r}); {fix}."
            )
    return m


def check_run_dir(run_dir: str | Path, *, adapter: bool = True) -> RunConfig:
    """Validate a run folder cheaply, before any model is loaded; returns its :class:`RunConfig`.

    Checks ``run.json`` (:func:`read_run`), ``metrics.csv`` if present (:func:`read_metrics`)
    and, with ``adapter``, that the trained adapter is there. ``ValueError`` naming the file.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ValueError(f"run folder {str(run_dir)!r} does not exist (or is not a folder).")
    cfg = read_run(run_dir)
    read_metrics(run_dir)
    if adapter and not (run_dir / ADAPTER_DIR / "adapter_config.json").is_file():
        raise ValueError(
            f"{run_dir} has no trained adapter ({ADAPTER_DIR}/adapter_config.json); "
            "finish training it first (`alignpro-lite train` with the same arguments resumes)."
        )
    return cfg


def load_model(name: str, model=None, tok=None):
    """``(model, tok)``: the ones given, or ``name`` loaded (:func:`~alignpro_lite.llm.lm.load_causal_lm`)."""
    if model is not None and tok is not None:
        return model, tok
    from alignpro_lite.llm.lm import load_causal_lm

    return load_causal_lm(name)


def sft_reference_path(run_dir: str | Path, cfg: RunConfig) -> Path | None:
    """Where a run's reference prompter ``rho_sft`` is: ``cfg.sft_adapter`` (absolute, or
    relative to the run folder — as :func:`train_run` stores it — or, for run files written
    before, to one of its parents: the shipped runs store ``runs/sft``), else the run's own
    ``sft/``. Never relative to the current folder: a run read from elsewhere must not pick up
    another replication's adapter.
    ``None`` only for a run that has no SFT prompter (``sft_steps == 0`` and no adapter given):
    its ``rho_sft`` is the base model. A named or expected adapter that cannot be found is a
    ``ValueError``, never a silent fall-back to the base model."""
    run_dir = Path(run_dir).absolute()
    if cfg.sft_adapter:
        p = Path(cfg.sft_adapter)
        # relative to the run file (what train writes), else to one of its folders (run files
        # written before, e.g. the shipped "runs/sft"); never the folder it is read from
        tries = [p] if p.is_absolute() else [run_dir / p, *(a / p for a in run_dir.parents)]
        for t in tries:
            if (t / "adapter_config.json").is_file():
                return t
        raise ValueError(
            f"{run_dir / RUN_FILE}: sft_adapter {cfg.sft_adapter!r} not found (looked relative to "
            "the run folder, its parents and the current folder); restore the adapter or retrain."
        )  # fmt: skip
    own = run_dir / SFT_DIR
    if (own / "adapter_config.json").is_file():
        return own
    if cfg.sft_steps > 0:
        raise ValueError(f"{run_dir}: its SFT prompter ({SFT_DIR}/adapter_config.json) is missing; "
                         "restore it or retrain.")  # fmt: skip
    return None


# --------------------------------------------------------------------------- training
def _sft_reference(cfg: RunConfig, out_dir: Path, model, tok, progress: bool):
    """Make the reference adapter ``"sft"``: load ``cfg.sft_adapter`` or ``out_dir/sft``, or
    train it (and save it with its loss curve ``sft/loss.csv``). Returns the model."""
    if cfg.sft_adapter:
        return lora.load_lora(model, sft_reference_path(out_dir, cfg), "sft")
    sft_dir = out_dir / SFT_DIR
    if (sft_dir / "adapter_config.json").is_file():
        return lora.load_lora(model, sft_dir, "sft")
    model = lora.add_lora(model, "sft", lora.LoRASpec(r=cfg.lora_r))
    curve = G.sft_prompter(
        model,
        tok,
        G.rewrite_pairs(TASKS, "train"),
        steps=cfg.sft_steps,
        seed=cfg.seed,
        progress=progress,
    )
    tmp = tmp_path(sft_dir)  # staged: a link at sft/ or inside it is never written through
    lora.save_lora(model, "sft", tmp)
    write_text_atomic(tmp / "loss.csv", curve.to_csv(index=False))
    replace_folder(tmp, sft_dir)
    return model


def build_run(cfg: RunConfig, out_dir: str | Path, model, tok, progress: bool = False):
    """``(policy, env, model)`` of a run: adapters added (SFT reference trained or loaded)."""
    from alignpro_lite.llm.rewards import get_reward

    out_dir = Path(out_dir)
    reward = get_reward(cfg.task)
    spec = lora.LoRASpec(r=cfg.lora_r)
    if cfg.method == "align-pro":
        ref = None
        if cfg.sft_steps > 0 or cfg.sft_adapter:
            model = _sft_reference(cfg, out_dir, model, tok, progress)
            ref = "sft"
        model = lora.add_lora(model, "prompter", spec)
        if ref:
            lora.copy_lora(model, "sft", "prompter")  # RL starts at rho_sft
        policy = G.PrompterPolicy(
            model,
            tok,
            ref_adapter=ref,
            max_new_tokens=cfg.rewrite_tokens,
            temperature=cfg.temperature,
        )
        env = G.FrozenLLMEnvironment(
            model,
            tok,
            reward,
            mu=cfg.mu,
            tau=cfg.tau,
            max_new_tokens=cfg.answer_tokens,
            temperature=cfg.answer_temperature,
            top_p=cfg.answer_top_p,
        )
    else:
        model = lora.add_lora(model, "rlhf", spec)
        policy = G.ResponderPolicy(
            model, tok, max_new_tokens=cfg.answer_tokens, temperature=cfg.temperature
        )
        env = G.ResponseEnvironment(reward)
    return policy, env, model


def relative_to_run(cfg: RunConfig, out_dir: str | Path) -> RunConfig:
    """``cfg`` with a relative ``sft_adapter`` (given from the current folder) rewritten relative
    to the run folder ``out_dir``: the one spelling a run file stores, so the file means the same
    adapter whichever folder it is read from (:func:`sft_reference_path`)."""
    if not cfg.sft_adapter or Path(cfg.sft_adapter).is_absolute():
        return cfg
    here = Path.cwd() / cfg.sft_adapter
    if not (here / "adapter_config.json").is_file():
        return cfg  # already relative to the run folder (a run file read back), or missing
    return replace(cfg, sft_adapter=os.path.relpath(here.resolve(), Path(out_dir).resolve()))


def train_run(cfg: RunConfig, out_dir: str | Path, **kw) -> TrainResult:
    """Train one run into ``out_dir`` while holding its lock (:func:`~alignpro_lite.atomic.out_lock`:
    a second ``train`` on the same folder stops at once). See :func:`_train_run` for the files
    and keyword arguments (``model``, ``tok``, ``data``, ``reward_fn``, ``progress``,
    ``callback``)."""
    out_dir = check_out_dir(out_dir, (RUN_FILE, METRICS_NAME), flag="--out")
    with out_lock(out_dir):
        return _train_run(relative_to_run(cfg, out_dir), out_dir, **kw)


def _train_run(
    cfg: RunConfig,
    out_dir: str | Path,
    *,
    model=None,
    tok=None,
    data: list[str] | None = None,
    reward_fn=None,
    progress: bool = True,
    callback=None,
) -> TrainResult:
    """Train one run into ``out_dir`` (resuming from its checkpoint when there is one).

    Writes ``run.json`` (the run's one settings file), ``checkpoint.pt`` (every ``checkpoint_every`` steps:
    LoRA weights, optimiser, RNG states), ``metrics.csv`` (one row per step: ``reward_mean``,
    ``kl``, ``objective``, ``task_reward``, ``preservation``, ``seconds``, ...), the final
    adapter in ``adapter/`` and, for Align-Pro, the SFT reference in ``sft/`` with ``loss.csv``.

    Args:
        cfg: the run's :class:`RunConfig`.
        model, tok: a loaded base model to reuse (else ``cfg.model`` is loaded).
        data: training prompts (default: the task's 60 TRAIN prompts).
        reward_fn: replace the environment (tests use toy rewards); ``None`` = the task's.
    """
    # every check first, before a model is loaded: --out a folder we can write, run.json and
    # the checkpoint (if any) readable
    out_dir = check_out_dir(out_dir, (RUN_FILE, METRICS_NAME), flag="--out")
    saved = out_dir / RUN_FILE
    ckpt_exists = out_dir.is_dir() and load_checkpoint(out_dir, warn=False) is not None
    if saved.is_file():
        old = read_run(out_dir)
        if {**old.to_json(), "steps": 0} != {**cfg.to_json(), "steps": 0}:
            diff = what_changed({**old.to_json(), "steps": 0}, {**cfg.to_json(), "steps": 0})
            raise ValueError(
                f"{out_dir} holds a different run: {diff}. Use the same arguments "
                "to resume (only --steps may grow), or a fresh --out."
            )
        if not ckpt_exists and (out_dir / ADAPTER_DIR).is_dir():
            raise ValueError(
                f"{out_dir} holds a finished run without its checkpoint (shipped runs keep only "
                "the adapter); train into a fresh --out to reproduce it."
            )
    if data is None:  # a broken task file is named now, not after the model load
        from alignpro_lite.llm.tasks import load_task

        data = [p.prompt for p in load_task(cfg.task, "train")]
    if model is None:
        from alignpro_lite.config import cache_dir

        cache_dir()  # a bad $ALIGNPRO_CACHE is named before run.json is written
    out_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(saved, json.dumps(cfg.to_json(), indent=1))  # never through a link
    model, tok = load_model(cfg.model, model, tok)
    torch.manual_seed(cfg.seed)  # LoRA A matrices are drawn at random: same run, same start
    policy, env, model = build_run(cfg, out_dir, model, tok, progress)
    fn = reward_fn if reward_fn is not None else env
    metrics_fn = env.metrics if reward_fn is None else None
    result = train(
        policy,
        fn,
        data,
        lam=cfg.kl_weight,
        steps=int(cfg.steps),
        lr=float(cfg.lr),
        k=int(cfg.k),
        batch_size=int(cfg.batch_size),
        max_grad_norm=1.0,
        seed=int(cfg.seed),
        out_dir=out_dir,
        checkpoint_every=int(cfg.checkpoint_every),
        metrics_fn=metrics_fn,
        callback=callback,
        progress=progress,
    )
    tmp = tmp_path(out_dir / ADAPTER_DIR)  # staged, then renamed into place (never through a link)
    lora.save_lora(policy.model, policy.adapter, tmp)
    replace_folder(tmp, out_dir / ADAPTER_DIR)
    return result


def strip_checkpoint(run_dir: str | Path) -> None:
    """Delete the checkpoints of a FINISHED run (to ship it small: the adapter stays).

    Removes ``checkpoint.pt``, ``checkpoint.prev.pt``, their ``.sha256`` checksums and any
    temporary file of an interrupted save. ``ValueError`` if the run is not finished (its newest
    good checkpoint is short of ``steps``) or none of its checkpoint files is readable.
    """
    run_dir = Path(run_dir)
    cfg = read_run(run_dir)
    ckpt = load_checkpoint(run_dir)
    if ckpt is not None and ckpt["step"] < cfg.steps:
        raise ValueError(
            f"{run_dir} is not finished (step {ckpt['step']} of {cfg.steps}); finish it first "
            "(train again with the same arguments resumes it)."
        )
    for path in checkpoint_files(run_dir):
        path.unlink(missing_ok=True)
