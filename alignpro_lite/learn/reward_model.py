"""A learned reward: a Bradley-Terry model on frozen MiniLM embeddings, trained on preference pairs.

RLHF pipelines rarely have a transparent reward; they *learn* one from pairs "answer ``y_w`` was
preferred to ``y_l`` for prompt ``x``". Bradley and Terry (1952) model the preference as::

    P(y_w ≻ y_l | x) = σ(s(x, y_w) - s(x, y_l))          σ(t) = 1 / (1 + e^{-t})

and the score ``s`` is fitted by maximum likelihood, i.e. by minimising the BT loss::

    L = -1/N sum_n log σ(s(x_n, y_w,n) - s(x_n, y_l,n))

Here ``s(x, y) = head(f(x, y))`` with ``f(x, y) = [e(x), e(y), e(x) * e(y)]`` (``(3 * 384,)``),
``e`` the frozen all-MiniLM-L6-v2 embedding (:func:`alignpro_lite.llm.semantics.embed`, unit norm)
and ``head`` a linear layer or a one-hidden-layer ReLU MLP. The score is only defined up to a
constant (BT sees differences), so the fitted head is shifted to give the training answers mean
score 0. A score difference of 1 means odds of ``e : 1``.

The shipped data (``data/preferences/``, made by ``scripts/make_preference_pairs.py``): real
SmolLM2 answers to every candidate rewrite of the 30 kindness test prompts, paired within a
prompt, labelled by the transparent VADER reward with 10 % of the labels flipped; the prompts are
in 3 folds, fold 0 (10 prompts) is the held-out ``test`` split, folds 1-2 the ``train`` split.
The fitted model is a :class:`~alignpro_lite.llm.rewards.Reward` like the others::

    data = load_preferences()                    # answers, pairs, embeddings
    rm = fit_bradley_terry(data.split("train"))  # seconds
    evaluate_reward_model(rm, data.split("test")).summary()   # accuracy, ECE, ...
    rm(["How do I ...?"], ["Sure! ..."])         # (1,) scores, like every reward
    rm = load_reward_model()                     # the shipped head, instantly
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from alignpro_lite.config import data_dir, threads
from alignpro_lite.llm.rewards import Reward

__all__ = [
    "ANSWERS_FILE",
    "PAIRS_FILE",
    "EMBEDDINGS_FILE",
    "HEAD_FILE",
    "METRICS_FILE",
    "PreferenceData",
    "BradleyTerryReward",
    "PreferenceEval",
    "preferences_dir",
    "load_preferences",
    "save_embeddings",
    "load_embeddings",
    "embed_with_table",
    "features",
    "bradley_terry_loss",
    "fit_bradley_terry",
    "evaluate_reward_model",
    "expected_calibration_error",
    "reliability_table",
    "load_reward_model",
]

ANSWERS_FILE = "kindness_answers.jsonl"
PAIRS_FILE = "kindness_pairs.jsonl"
EMBEDDINGS_FILE = "kindness_embeddings.npz"
HEAD_FILE = "kindness_bt_head.npz"
METRICS_FILE = "kindness_bt_metrics.json"
HEAD_FORMAT = 1


def preferences_dir() -> Path:
    """Folder of the shipped preference data (``<data_dir>/preferences``)."""
    return data_dir() / "preferences"


# --------------------------------------------------------------------------- embeddings
def save_embeddings(path: str | Path, texts: Sequence[str], E: np.ndarray) -> None:
    """Store ``texts`` and their ``(n, 384)`` embeddings ``E`` as float16 in an ``.npz``."""
    E = np.asarray(E)
    if E.ndim != 2 or E.shape[0] != len(texts):
        raise ValueError(f"E must be (len(texts), d) = ({len(texts)}, d), got {E.shape}.")
    np.savez_compressed(path, texts=np.array(list(texts), dtype=str), E=E.astype(np.float16))


def load_embeddings(path: str | Path) -> dict[str, np.ndarray]:
    """``{text: (384,) float32}`` from a file written by :func:`save_embeddings`."""
    with np.load(path, allow_pickle=False) as f:
        texts, E = f["texts"].tolist(), f["E"].astype(np.float32)
    return dict(zip(texts, E, strict=True))


def embed_with_table(table: Mapping[str, np.ndarray] | None, texts: Sequence[str]) -> np.ndarray:
    """``(n, 384)`` float64 embeddings of ``texts``: looked up in ``table`` (``{text: (384,)}``)
    when present there, else computed by the MiniLM encoder (:func:`alignpro_lite.llm.semantics.embed`)."""
    table = table or {}
    missing = sorted({t for t in texts if t not in table})
    extra: dict[str, np.ndarray] = {}
    if missing:
        from alignpro_lite.llm.semantics import embed

        extra = dict(zip(missing, embed(missing), strict=True))
    return np.stack([table[t] if t in table else extra[t] for t in texts]).astype(np.float64)


# --------------------------------------------------------------------------- the data
@dataclass
class PreferenceData:
    """Preference pairs over stored answers.

    Attributes:
        answers: one row per answer, indexed by answer ``id``; columns ``split, fold,
            prompt_id, prompt`` (the ORIGINAL prompt ``x``), ``candidate, kind, rewrite`` (the
            rewrite ``x'`` that was answered), ``answer`` (``y``) and ``gold`` (transparent
            reward).
        pairs: one row per pair; columns ``split, fold, prompt_id, chosen, rejected`` (answer ids,
            ``chosen`` = the labelled winner ``y_w``) and ``flipped`` (the label disagrees with
            the gold reward: injected noise).
        embeddings: ``{text: (384,) array}`` for prompts and answers (missing texts are
            embedded on demand).
    """

    answers: pd.DataFrame
    pairs: pd.DataFrame
    embeddings: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        need_a = {"split", "prompt_id", "prompt", "answer", "gold"}
        need_p = {"split", "prompt_id", "chosen", "rejected", "flipped"}
        for name, df, need in (("answers", self.answers, need_a), ("pairs", self.pairs, need_p)):
            missing = need - set(df.columns)
            if missing:
                raise ValueError(f"{name} lacks the columns {sorted(missing)}.")
        unknown = set(self.pairs["chosen"]) | set(self.pairs["rejected"])
        unknown -= set(self.answers.index)
        if unknown:
            raise ValueError(
                f"pairs refer to {len(unknown)} answer ids missing from answers, "
                f"e.g. {sorted(unknown)[:3]}."
            )

    def __len__(self) -> int:
        return len(self.pairs)

    def split(self, split: str) -> PreferenceData:
        """The pairs (and answers) of one split, ``"train"`` or ``"test"`` (disjoint prompts)."""
        splits = sorted(set(self.pairs["split"]))
        if split not in splits:
            raise ValueError(f"unknown split {split!r}; the pairs have {splits}.")
        return PreferenceData(
            self.answers[self.answers["split"] == split],
            self.pairs[self.pairs["split"] == split].reset_index(drop=True),
            self.embeddings,
        )

    def by_fold(self, folds) -> PreferenceData:
        """The pairs (and answers) of the prompts in the given ``folds`` (ints)."""
        folds = sorted({int(f) for f in np.atleast_1d(folds)})
        known = sorted(set(self.answers["fold"])) if "fold" in self.answers else []
        if not folds or not set(folds) <= set(known):
            raise ValueError(f"folds must be a non-empty subset of {known}, got {folds}.")
        keep = self.answers["fold"].isin(folds)
        pids = set(self.answers.loc[keep, "prompt_id"])
        return PreferenceData(
            self.answers[keep],
            self.pairs[self.pairs["prompt_id"].isin(pids)].reset_index(drop=True),
            self.embeddings,
        )

    def subsample(self, n_pairs: int, seed: int = 0) -> PreferenceData:
        """``n_pairs`` pairs drawn without replacement (seeded): a smaller data set."""
        if int(n_pairs) != n_pairs or not 1 <= n_pairs <= len(self):
            raise ValueError(f"n_pairs must be an integer in [1, {len(self)}], got {n_pairs!r}.")
        idx = np.sort(np.random.default_rng(seed).choice(len(self), int(n_pairs), replace=False))
        return PreferenceData(
            self.answers, self.pairs.iloc[idx].reset_index(drop=True), self.embeddings
        )

    def with_label_noise(self, rate: float, seed: int = 0) -> PreferenceData:
        """Flip each label again with probability ``rate`` (seeded): a noisier data set.

        On top of the shipped noise, the total fraction flipped becomes
        ``q + rate (1 - 2 q)`` for shipped rate ``q``.
        """
        if not (0.0 <= rate <= 1.0):
            raise ValueError(f"rate must be a probability in [0, 1], got {rate!r}.")
        flip = np.random.default_rng(seed).random(len(self)) < rate
        pairs = self.pairs.copy()
        pairs.loc[flip, ["chosen", "rejected"]] = pairs.loc[flip, ["rejected", "chosen"]].values
        pairs.loc[flip, "flipped"] = ~pairs.loc[flip, "flipped"].astype(bool)
        return PreferenceData(self.answers, pairs, self.embeddings)

    def texts(self) -> tuple[list[str], list[str], list[str]]:
        """``(prompts, chosen answers, rejected answers)`` of the pairs, as strings."""
        a = self.answers
        return (
            a.loc[self.pairs["chosen"], "prompt"].tolist(),
            a.loc[self.pairs["chosen"], "answer"].tolist(),
            a.loc[self.pairs["rejected"], "answer"].tolist(),
        )

    def pair_embeddings(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(e(x), e(y_w), e(y_l))``, each ``(n_pairs, 384)``."""
        x, w, l = self.texts()
        return tuple(embed_with_table(self.embeddings, t) for t in (x, w, l))  # type: ignore[return-value]


def load_preferences(task: str = "kindness", folder: str | Path | None = None) -> PreferenceData:
    """The shipped preference data (answers, pairs, embeddings) of ``task``.

    Only ``"kindness"`` is shipped; regenerate with ``scripts/make_preference_pairs.py``.
    """
    if task != "kindness":
        raise ValueError(f"only task='kindness' has preference data, got {task!r}.")
    folder = Path(folder) if folder is not None else preferences_dir()
    paths = [folder / name for name in (ANSWERS_FILE, PAIRS_FILE)]
    for path in paths:
        if not path.is_file():
            raise ValueError(
                f"{path} is missing: run `python scripts/make_preference_pairs.py` to make it."
            )
    answers, pairs = (pd.read_json(p, lines=True) for p in paths)
    emb_path = folder / EMBEDDINGS_FILE
    embeddings = load_embeddings(emb_path) if emb_path.is_file() else {}
    return PreferenceData(answers.set_index("id"), pairs, embeddings)


# --------------------------------------------------------------------------- the model
def features(e_x: np.ndarray, e_y: np.ndarray) -> np.ndarray:
    """``f(x, y) = [e(x), e(y), e(x) * e(y)]``: ``(n, d)`` and ``(n, d)`` -> ``(n, 3d)``."""
    e_x, e_y = np.asarray(e_x), np.asarray(e_y)
    if e_x.ndim != 2 or e_x.shape != e_y.shape:
        raise ValueError(
            f"e_x and e_y must both be (n, d) with the same shape, got {e_x.shape} and {e_y.shape}."
        )
    return np.concatenate([e_x, e_y, e_x * e_y], axis=1)


def bradley_terry_loss(s_w, s_l):
    """``L = -mean log σ(s_w - s_l)`` (torch tensors ``(n,)`` -> scalar), computed stably as
    ``mean softplus(s_l - s_w)``. Its gradient in ``s_w`` is ``-(1 - σ(s_w - s_l)) / n``."""
    import torch

    if s_w.shape != s_l.shape or s_w.ndim != 1 or s_w.numel() == 0:
        raise ValueError(
            f"s_w and s_l must be non-empty (n,) tensors of the same shape, got "
            f"{tuple(s_w.shape)} and {tuple(s_l.shape)}."
        )
    return torch.nn.functional.softplus(s_l - s_w).mean()


def _digest(arrays: Mapping[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for k in sorted(arrays):
        h.update(k.encode())
        h.update(np.ascontiguousarray(arrays[k], dtype=np.float64).tobytes())
    return h.hexdigest()[:12]


@dataclass(eq=False, repr=False)
class BradleyTerryReward(Reward):
    """``r(x, y) = s(x, y)``: a fitted Bradley-Terry score on MiniLM embeddings.

    Parameters (numpy, float64): ``W1 (h, 3d)``, ``b1 (h,)``, ``W2 (1, h)``, ``b2 (1,)`` for a
    one-hidden-layer ReLU head (``s = W2 relu(W1 f + b1) + b2``), or ``W1 (1, 3d)``, ``b1 (1,)``
    and empty ``W2``/``b2`` for a linear head (``s = W1 f + b1``); ``offset`` is subtracted
    (the mean training score, so training answers average 0).

    ``r_min``/``r_max`` are *provable* bounds for unit-norm embeddings (``||f|| <= sqrt 3``), so
    the base class never clips a score. They are loose (the scores of real answers span a much
    narrower range): fine for the sub-optimality bound, not a description of typical values.

    ``embedding_table`` (optional ``{text: (384,)}``) short-cuts the encoder for known texts.
    """

    W1: np.ndarray = None  # type: ignore[assignment]
    b1: np.ndarray = None  # type: ignore[assignment]
    W2: np.ndarray = None  # type: ignore[assignment]
    b2: np.ndarray = None  # type: ignore[assignment]
    offset: float = 0.0
    meta: dict = field(default_factory=dict)
    name: str = "bt-kindness"
    embedding_table: dict | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        arrays = {}
        for key in ("W1", "b1", "W2", "b2"):
            v = getattr(self, key)
            v = np.zeros((0,)) if v is None else np.asarray(v, dtype=np.float64)
            if not np.isfinite(v).all():
                raise ValueError(f"{key} has NaN/inf entries; the head must be finite.")
            arrays[key] = v
        self.W1, self.b1, self.W2, self.b2 = (arrays[k] for k in ("W1", "b1", "W2", "b2"))
        if self.W1.ndim != 2 or self.b1.shape != (self.W1.shape[0],):
            raise ValueError(f"need W1 (h, 3d) and b1 (h,), got {self.W1.shape}, {self.b1.shape}.")
        if self.W2.size and (self.W2.shape != (1, self.W1.shape[0]) or self.b2.shape != (1,)):
            raise ValueError(f"need W2 (1, h) and b2 (1,), got {self.W2.shape}, {self.b2.shape}.")
        if not self.W2.size and self.W1.shape[0] != 1:
            raise ValueError("a linear head (no W2) needs W1 of shape (1, 3d).")
        if not math.isfinite(self.offset):
            raise ValueError(f"offset must be finite, got {self.offset}.")
        self.r_min, self.r_max = self._bounds()

    @property
    def hidden(self) -> int:
        """Hidden width (0 = linear head)."""
        return self.W1.shape[0] if self.W2.size else 0

    @property
    def dim(self) -> int:
        """Embedding dimension ``d`` (features have ``3d`` entries)."""
        return self.W1.shape[1] // 3

    def _bounds(self) -> tuple[float, float]:
        """``[r_min, r_max]`` over all ``||f|| <= sqrt(3)`` (Cauchy-Schwarz per unit)."""
        reach = np.linalg.norm(self.W1, axis=1) * math.sqrt(3.0)  # (h,)
        if not self.W2.size:
            return float(self.b1[0] - reach[0] - self.offset), float(
                self.b1[0] + reach[0] - self.offset
            )
        h_max = np.maximum(self.b1 + reach, 0.0)  # relu(W1 f + b1) lies in [0, h_max]
        w = self.W2[0]
        lo = self.b2[0] + np.minimum(w, 0.0) @ h_max - self.offset
        hi = self.b2[0] + np.maximum(w, 0.0) @ h_max - self.offset
        return float(lo), float(hi)

    @property
    def version(self) -> str:
        params = {"W1": self.W1, "b1": self.b1, "W2": self.W2, "b2": self.b2}
        return f"bt-minilm-l6-v2-{_digest(params)}-off{self.offset:.6g}"

    def score_features(self, f: np.ndarray) -> np.ndarray:
        """``s`` for a batch of features ``(n, 3d)`` -> ``(n,)`` (numpy, no encoder)."""
        f = np.asarray(f, dtype=np.float64)
        z = f @ self.W1.T + self.b1  # (n, h)
        if self.W2.size:
            z = np.maximum(z, 0.0) @ self.W2.T + self.b2  # (n, 1)
        return z[:, 0] - self.offset

    def score_embeddings(self, e_x: np.ndarray, e_y: np.ndarray) -> np.ndarray:
        """``s(x, y)`` from precomputed embeddings ``(n, d)``, ``(n, d)`` -> ``(n,)``."""
        return self.score_features(features(e_x, e_y))

    def score(self, prompts: list[str], responses: list[str]) -> np.ndarray:
        return self.score_embeddings(
            embed_with_table(self.embedding_table, prompts),
            embed_with_table(self.embedding_table, responses),
        )

    def preference_prob(self, prompts, chosen, rejected) -> np.ndarray:
        """``P(chosen ≻ rejected | x) = σ(s(x, y_w) - s(x, y_l))``, ``(n,)``."""
        return _sigmoid(self(prompts, chosen) - self(prompts, rejected))

    # files -----------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write the head to an ``.npz`` (a few kB for a linear head; no pickle)."""
        path = Path(path)
        meta = {"format": HEAD_FORMAT, "name": self.name, "offset": self.offset, **self.meta}
        np.savez(
            path,
            W1=self.W1,
            b1=self.b1,
            W2=self.W2,
            b2=self.b2,
            meta=np.array(json.dumps(meta, sort_keys=True)),
        )
        return path

    @classmethod
    def load(cls, path: str | Path, embedding_table: dict | None = None) -> BradleyTerryReward:
        """Read a head written by :meth:`save`."""
        path = Path(path)
        if not path.is_file():
            raise ValueError(
                f"{path} does not exist: train a head with fit_bradley_terry(...).save(path) "
                "or run scripts/make_preference_pairs.py."
            )
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in ("W1", "b1", "W2", "b2")}
            meta = json.loads(str(f["meta"]))
        if meta.pop("format", None) != HEAD_FORMAT:
            raise ValueError(f"{path} has an unknown head format; retrain it.")
        name, offset = meta.pop("name"), meta.pop("offset")
        return cls(**arrays, offset=offset, meta=meta, name=name, embedding_table=embedding_table)


def _sigmoid(t: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(t, dtype=np.float64)))  # overflow-free


def _check_pair_arrays(e_x, e_w, e_l) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    arrs = [np.asarray(a, dtype=np.float64) for a in (e_x, e_w, e_l)]
    names = ("e_x", "e_w", "e_l")
    for name, a in zip(names, arrs):
        if a.ndim != 2:
            raise ValueError(f"{name} must be a 2-D (n_pairs, d) array, got shape {a.shape}.")
        if not np.isfinite(a).all():
            raise ValueError(f"{name} has NaN/inf entries; embeddings must be finite.")
    if len({a.shape for a in arrs}) != 1:
        raise ValueError(
            "e_x, e_w and e_l must have the same shape (one prompt, winner and loser per pair), "
            f"got {[a.shape for a in arrs]}."
        )
    if arrs[0].shape[0] == 0:
        raise ValueError("there are no preference pairs to train on (n_pairs = 0).")
    return arrs[0], arrs[1], arrs[2]


def fit_bradley_terry(
    data: PreferenceData | tuple[np.ndarray, np.ndarray, np.ndarray],
    *,
    hidden: int = 0,
    epochs: int = 300,
    lr: float = 0.01,
    weight_decay: float = 3e-3,
    seed: int = 0,
    name: str = "bt-kindness",
) -> BradleyTerryReward:
    """Fit ``s(x, y) = head(f(x, y))`` by minimising the BT loss with full-batch Adam.

    Args:
        data: a :class:`PreferenceData` or the arrays ``(e(x), e(y_w), e(y_l))``, each
            ``(n_pairs, d)``.
        hidden: 0 for a linear head, else the width of one ReLU hidden layer.
        epochs: full-batch Adam steps; lr: learning rate; weight_decay: L2 penalty
            ``weight_decay * ||W||^2`` on the weights (not the biases).
        seed: seeds the initialisation (the fit is deterministic on CPU).

    Returns:
        a :class:`BradleyTerryReward`, shifted so the training answers' mean score is 0,
        with ``meta`` recording the settings and ``n_pairs``.
    """
    import torch

    if isinstance(data, PreferenceData):
        e_x, e_w, e_l = _check_pair_arrays(*data.pair_embeddings()) if len(data) else (None,) * 3
        if e_x is None:
            raise ValueError("there are no preference pairs to train on (n_pairs = 0).")
        table = data.embeddings
    else:
        if not isinstance(data, tuple | list) or len(data) != 3:
            raise ValueError("data must be a PreferenceData or a tuple (e_x, e_w, e_l).")
        e_x, e_w, e_l = _check_pair_arrays(*data)
        table = None
    for key, v, lo in (("hidden", hidden, 0), ("epochs", epochs, 1)):
        if int(v) != v or v < lo:
            raise ValueError(f"{key} must be an integer >= {lo}, got {v!r}.")
    if not (lr > 0 and math.isfinite(lr)) or not (
        weight_decay >= 0 and math.isfinite(weight_decay)
    ):
        raise ValueError(
            f"need lr > 0 and weight_decay >= 0, got lr={lr}, weight_decay={weight_decay}."
        )

    gen = torch.Generator().manual_seed(seed)
    f_w = torch.as_tensor(features(e_x, e_w), dtype=torch.float32)  # (N, 3d)
    f_l = torch.as_tensor(features(e_x, e_l), dtype=torch.float32)
    d_in = f_w.shape[1]
    layers = [torch.nn.Linear(d_in, hidden or 1)]
    if hidden:
        layers += [torch.nn.ReLU(), torch.nn.Linear(hidden, 1)]
    head = torch.nn.Sequential(*layers)
    with torch.no_grad():
        for p in head.parameters():  # seeded init, independent of torch's global RNG
            p.copy_((torch.rand(p.shape, generator=gen) * 2 - 1) / math.sqrt(p.shape[-1]))
    opt = torch.optim.Adam(head.parameters(), lr=lr)
    weights = [m.weight for m in head if isinstance(m, torch.nn.Linear)]
    with threads(1):  # a (N, 1152) problem: threads only fight on a shared CPU
        for _ in range(int(epochs)):
            loss = bradley_terry_loss(head(f_w)[:, 0], head(f_l)[:, 0])
            loss = loss + weight_decay * sum((w**2).sum() for w in weights)
            opt.zero_grad()
            loss.backward()
            opt.step()

    lin = [m for m in head if isinstance(m, torch.nn.Linear)]
    params = {
        "W1": lin[0].weight.detach().double().numpy(),
        "b1": lin[0].bias.detach().double().numpy(),
        "W2": lin[1].weight.detach().double().numpy() if hidden else None,
        "b2": lin[1].bias.detach().double().numpy() if hidden else None,
    }
    meta = {
        "n_pairs": int(len(e_x)),
        "hidden": int(hidden),
        "epochs": int(epochs),
        "lr": float(lr),
        "weight_decay": float(weight_decay),
        "seed": int(seed),
        "features": "[e(x), e(y), e(x)*e(y)], all-MiniLM-L6-v2",
    }
    rm = BradleyTerryReward(**params, meta=meta, name=name, embedding_table=table)
    answers = np.concatenate([e_w, e_l])
    rm.offset = float(rm.score_embeddings(np.concatenate([e_x, e_x]), answers).mean())
    rm.r_min, rm.r_max = rm._bounds()
    return rm


# --------------------------------------------------------------------------- evaluation
def expected_calibration_error(p: np.ndarray, y: np.ndarray, n_bins: int = 10) -> float:
    """ECE of binary predictions in confidence form::

        ECE = sum_b |B_b| / n * | acc(B_b) - conf(B_b) |

    with ``conf = max(p, 1 - p)``, correct = ``(p > 0.5) == y``, and ``n_bins`` equal-width
    bins of ``conf`` on ``[0.5, 1]``. ``p``: ``(n,)`` predicted ``P(y = 1)``; ``y``: ``(n,)`` 0/1.
    """
    table = reliability_table(p, y, n_bins)
    n = table["count"].sum()
    return float((table["count"] / n * (table["accuracy"] - table["confidence"]).abs()).sum())


def reliability_table(p: np.ndarray, y: np.ndarray, n_bins: int = 10) -> pd.DataFrame:
    """Per confidence bin: ``count``, mean ``confidence`` and ``accuracy`` (non-empty bins).

    A calibrated model has ``accuracy ≈ confidence`` in every bin.
    """
    p, y = np.asarray(p, dtype=float), np.asarray(y, dtype=float)
    if p.ndim != 1 or p.shape != y.shape or p.size == 0:
        raise ValueError(f"p and y must be non-empty (n,) arrays, got {p.shape} and {y.shape}.")
    if not np.isfinite(p).all() or ((p < 0) | (p > 1)).any():
        raise ValueError("p must hold probabilities in [0, 1] (no NaN).")
    if not np.isin(y, (0.0, 1.0)).all():
        raise ValueError("y must hold 0/1 labels.")
    if int(n_bins) != n_bins or n_bins < 1:
        raise ValueError(f"n_bins must be an integer >= 1, got {n_bins!r}.")
    conf = np.maximum(p, 1.0 - p)
    correct = ((p > 0.5) == (y == 1)).astype(float)
    edges = np.linspace(0.5, 1.0, int(n_bins) + 1)
    b = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, int(n_bins) - 1)
    df = pd.DataFrame({"bin": b, "confidence": conf, "accuracy": correct})
    table = df.groupby("bin").agg(
        count=("accuracy", "size"), confidence=("confidence", "mean"), accuracy=("accuracy", "mean")
    )
    table.index = [f"{edges[i]:.2f}-{edges[i + 1]:.2f}" for i in table.index]
    table.index.name = "confidence bin"
    return table


@dataclass
class PreferenceEval:
    """Held-out evaluation of a reward model on pairs.

    ``p[n] = σ(s(x, y_w) - s(x, y_l))`` is the predicted probability of the *recorded* label;
    ``noisy[n]`` marks the injected label flips (so ``~noisy`` = the gold reward agrees).
    """

    p: np.ndarray  # (n,)
    noisy: np.ndarray  # (n,) bool

    @property
    def accuracy(self) -> float:
        """Fraction of pairs where the model agrees with the recorded (noisy) label."""
        return float((self.p > 0.5).mean())

    @property
    def gold_accuracy(self) -> float:
        """Fraction of pairs where the model agrees with the gold reward (noise removed)."""
        return float(((self.p > 0.5) != self.noisy).mean())

    @property
    def log_loss(self) -> float:
        """Mean BT loss ``-log p`` on the recorded labels."""
        return float(-np.log(np.clip(self.p, 1e-12, 1.0)).mean())

    def _oriented(self, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        # present each pair in a random order so both sides of 0.5 occur (orientation-free)
        swap = np.random.default_rng(seed).random(self.p.size) < 0.5
        return np.where(swap, 1.0 - self.p, self.p), (~swap).astype(float)

    @property
    def ece(self) -> float:
        """Expected calibration error (10 bins) on the recorded labels."""
        return expected_calibration_error(*self._oriented())

    def reliability(self, n_bins: int = 10) -> pd.DataFrame:
        """:func:`reliability_table` on the recorded labels."""
        return reliability_table(*self._oriented(), n_bins=n_bins)

    def summary(self) -> dict[str, float]:
        return {
            "n_pairs": int(self.p.size),
            "accuracy": round(self.accuracy, 4),
            "gold_accuracy": round(self.gold_accuracy, 4),
            "label_noise": round(float(self.noisy.mean()), 4),
            "log_loss": round(self.log_loss, 4),
            "ece": round(self.ece, 4),
        }


def evaluate_reward_model(rm: BradleyTerryReward, data: PreferenceData) -> PreferenceEval:
    """Score every pair of ``data`` with ``rm``: accuracy, gold accuracy, log-loss, ECE."""
    if len(data) == 0:
        raise ValueError("data has no pairs to evaluate on.")
    e_x, e_w, e_l = data.pair_embeddings()
    p = _sigmoid(rm.score_embeddings(e_x, e_w) - rm.score_embeddings(e_x, e_l))
    return PreferenceEval(p=p, noisy=data.pairs["flipped"].to_numpy(dtype=bool))


def load_reward_model(path: str | Path | None = None) -> BradleyTerryReward:
    """The shipped kindness reward model (``data/preferences/kindness_bt_head.npz``), with the
    shipped embeddings attached so known texts skip the encoder."""
    path = Path(path) if path is not None else preferences_dir() / HEAD_FILE
    emb = preferences_dir() / EMBEDDINGS_FILE
    return BradleyTerryReward.load(path, load_embeddings(emb) if emb.is_file() else None)
