"""Discrete problem instances: seeded random generators and loaders from ``data/``.

A :class:`DiscreteProblem` holds everything the closed form needs for a finite prompt set:
``P``, ``rho_sft``, and either the full tabular frozen model (``pi_F``, ``r``) or, for tables
estimated from a real LLM, the prompt values ``R`` and response noise ``V`` directly.

File format (JSON, see ``data/README.md``)::

    {"name": str, "description": str, "reward_range": [r_min, r_max],
     "prompts": [
        {"text": str, "weight": float (optional, default 1),
         "responses": [{"text": str, "reward": float}, ...],          # full form only
         "candidates": [
            {"text": str, "rho_sft": float,
             "pi_F": [float, ...]                                      # full form: one per response
             # or, estimated form:  "R": float, "V": float, "se": float (optional)
            }, ...]}]}

Candidate 0 of every prompt must be the original prompt (same text), so ``pi_ref = pi_F[:, 0]``.
Prompts may have different numbers of candidates/responses: the arrays are padded with
zero-probability entries (``rho_sft = 0`` candidates stay at probability 0 in ``rho*``).

The schema (types, ranges, unknown keys, size limits) is declared once in
:mod:`alignpro_lite.exact.schema`; the rules that span several fields (sums to 1, candidate 0, rewards
inside ``reward_range``) are in :func:`check_problem_spec`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from alignpro_lite.atomic import tmp_path
from alignpro_lite.config import data_dir
from alignpro_lite.exact import discrete, schema
from alignpro_lite.exact.validate import check_distribution, check_finite, check_shape


@dataclass
class DiscreteProblem:
    """A finite Align-Pro instance. Arrays follow docs/design.md §1 shapes.

    Give either ``pi_F`` and ``r`` (full tabular form) or ``R`` and ``V`` (estimated form).
    """

    rho_sft: np.ndarray  # (n_x, n_c)
    P: np.ndarray  # (n_x,)
    pi_F: np.ndarray | None = None  # (n_x, n_c, n_y)
    r: np.ndarray | None = None  # (n_x, n_y)
    R_table: np.ndarray | None = None  # (n_x, n_c), estimated form
    V_table: np.ndarray | None = None  # (n_x, n_c), estimated form
    se: np.ndarray | None = None  # (n_x, n_c) standard errors of R, estimated form
    r_range: tuple[float, float] | None = None
    prompts: list[str] = field(default_factory=list)
    candidates: list[list[str]] = field(default_factory=list)
    responses: list[list[str]] = field(default_factory=list)
    name: str = "problem"
    description: str = ""

    def __post_init__(self) -> None:
        self.rho_sft = check_distribution(self.rho_sft, "rho_sft", ndim=2)
        n_x, n_c = self.rho_sft.shape
        self.P = check_distribution(self.P, "P", ndim=1)
        check_shape(self.P, (n_x,), "P", "(n_x,)")
        if self.pi_F is not None:
            self.pi_F = check_distribution(self.pi_F, "pi_F", ndim=3)
            check_shape(self.pi_F, (n_x, n_c) + self.pi_F.shape[2:], "pi_F", "(n_x, n_c, n_y)")
            if self.r is None:
                raise ValueError("pi_F was given without r: the full form needs both.")
            self.r = check_finite(self.r, "r", ndim=2)
            check_shape(self.r, (n_x, self.pi_F.shape[2]), "r", "(n_x, n_y)")
            if self.r_range is None:
                self.r_range = (float(self.r.min()), float(self.r.max()))
        elif self.R_table is not None:
            self.R_table = check_finite(self.R_table, "R", ndim=2)
            check_shape(self.R_table, (n_x, n_c), "R", "(n_x, n_c) like rho_sft")
            V = np.zeros_like(self.R_table) if self.V_table is None else self.V_table
            self.V_table = check_finite(V, "V", ndim=2)
            check_shape(self.V_table, (n_x, n_c), "V", "(n_x, n_c) like rho_sft")
            if (self.V_table < 0).any():
                raise ValueError("V (response variance) must be >= 0.")
        else:
            raise ValueError("A DiscreteProblem needs pi_F and r, or a table R (and V).")

    # shapes --------------------------------------------------------------------------
    @property
    def n_x(self) -> int:
        return self.rho_sft.shape[0]

    @property
    def n_c(self) -> int:
        return self.rho_sft.shape[1]

    @property
    def tabular(self) -> bool:
        """True when the frozen model is fully tabular (``pi_F``, ``r`` known)."""
        return self.pi_F is not None

    # derived tables -------------------------------------------------------------------
    @property
    def R(self) -> np.ndarray:
        """Prompt values ``R(x, x')``, ``(n_x, n_c)``."""
        if self.tabular:
            return discrete.prompt_values(self.pi_F, self.r)
        return self.R_table

    @property
    def V(self) -> np.ndarray:
        """Response noise ``Var_{y~pi_F(.|x')} r(x, y)``, ``(n_x, n_c)``."""
        if self.tabular:
            return discrete.response_variance(self.pi_F, self.r)
        return self.V_table

    @property
    def pi_ref(self) -> np.ndarray:
        """The frozen model on the unmodified prompt (candidate 0), ``(n_x, n_y)``."""
        if not self.tabular:
            raise ValueError(f"problem {self.name!r} is an estimated table: it has no pi_F.")
        return self.pi_F[:, 0, :]

    def optimal_prompter(self, lam) -> np.ndarray:
        """``rho*`` for this problem (see :func:`alignpro_lite.exact.discrete.optimal_prompter`)."""
        return discrete.optimal_prompter(self.rho_sft, self.R, lam)

    def to_frame(self, lam: float | None = None):
        """One row per (prompt, candidate): texts, ``rho_sft``, ``R``, ``V`` (and ``rho*`` at ``lam``)."""
        import pandas as pd

        rows = []
        rho = self.optimal_prompter(lam) if lam is not None else None
        for i in range(self.n_x):
            cands = self.candidates[i] if self.candidates else [None] * self.n_c
            for j, text in enumerate(cands):
                row = {
                    "x": i,
                    "prompt": self.prompts[i] if self.prompts else i,
                    "c": j,
                    "rewrite x'": text,
                    "rho_sft": self.rho_sft[i, j],
                    "R": self.R[i, j],
                    "V": self.V[i, j],
                }
                if rho is not None:
                    row[f"rho* (λ={lam:g})"] = rho[i, j]
                rows.append(row)
        return pd.DataFrame(rows).set_index(["x", "c"])

    def summary(self) -> str:
        kind = "tabular pi_F" if self.tabular else "estimated R table"
        return f"{self.name}: {self.n_x} prompts x {self.n_c} candidates ({kind})"


# --------------------------------------------------------------------------- generators
def random_problem(
    n_x: int = 8,
    n_c: int = 6,
    n_y: int = 5,
    seed: int = 0,
    concentration: float = 1.0,
    reward_scale: float = 1.0,
    zero_candidates: float = 0.0,
) -> DiscreteProblem:
    """A seeded random instance: Dirichlet ``rho_sft``, ``pi_F`` and ``P``, uniform rewards.

    Args:
        n_x, n_c, n_y: numbers of prompts, candidate rewrites and responses.
        seed: the whole instance is a function of the seed.
        concentration: Dirichlet concentration (small = peaked distributions).
        reward_scale: rewards are uniform on ``[0, reward_scale]``.
        zero_candidates: probability that a non-original candidate gets ``rho_sft = 0``.
    """
    for name, v in (("n_x", n_x), ("n_c", n_c), ("n_y", n_y)):
        if int(v) != v or v < 1:
            raise ValueError(f"{name} must be a positive integer, got {v!r}.")
    if concentration <= 0 or reward_scale <= 0:
        raise ValueError("concentration and reward_scale must be > 0.")
    rng = np.random.default_rng(seed)
    rho_sft = rng.dirichlet(np.full(n_c, concentration), size=n_x)
    if zero_candidates > 0 and n_c > 1:
        drop = rng.random((n_x, n_c)) < zero_candidates
        drop[:, 0] = False  # the original prompt is always possible
        rho_sft = np.where(drop, 0.0, rho_sft)
        rho_sft[rho_sft.sum(1) == 0, 0] = 1.0
        rho_sft /= rho_sft.sum(1, keepdims=True)
    pi_F = rng.dirichlet(np.full(n_y, concentration), size=(n_x, n_c))
    r = rng.uniform(0.0, reward_scale, size=(n_x, n_y))
    P = rng.dirichlet(np.full(n_x, 5.0))
    return DiscreteProblem(
        rho_sft=rho_sft,
        P=P,
        pi_F=pi_F,
        r=r,
        r_range=(0.0, float(reward_scale)),
        prompts=[f"prompt {i}" for i in range(n_x)],
        # candidate 0 is the original prompt itself (so the instance saves and loads back)
        candidates=[[f"prompt {i}"] + [f"rewrite {j}" for j in range(1, n_c)] for i in range(n_x)],
        responses=[[f"response {k}" for k in range(n_y)] for _ in range(n_x)],
        name=f"random(n_x={n_x}, n_c={n_c}, n_y={n_y}, seed={seed})",
    )


# --------------------------------------------------------------------------- loaders
def teaching_problem() -> DiscreteProblem:
    """The hand-written teaching instance ``data/teaching.json`` (4 prompts x 5 rewrites)."""
    return load_problem(data_dir() / "teaching.json")


def load_problem(path: str | Path) -> DiscreteProblem:
    """Load and validate a problem file (schema in ``data/README.md``).

    Raises ``ValueError`` naming the file, the location (prompt i / candidate j / response k)
    and the field on any problem: a missing or unknown field, a wrong type, NaN/inf, a value out
    of range, sizes over the limits, probabilities that do not sum to 1, candidate 0 not the
    original prompt, rewards outside ``reward_range``, bytes that are not UTF-8, invalid JSON.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(
            f"problem file {str(path)!r} does not exist. Give a path to a JSON problem file, "
            "or use 'teaching' / 'random'."
        )
    spec = schema.load_json(path, "problem file")
    try:
        return problem_from_dict(spec)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None


def problem_form(spec) -> str:
    """``"full"`` when prompt 0 has ``responses``, else ``"estimated"`` (the schema checks the rest)."""
    prompts = spec.get("prompts") if isinstance(spec, dict) else None
    first = prompts[0] if isinstance(prompts, list) and prompts else None
    return "full" if isinstance(first, dict) and "responses" in first else "estimated"


def check_problem_spec(spec, form: str | None = None, table: bool = False) -> dict:
    """Validate a parsed problem file; return a clean copy (floats, defaults filled in).

    ``form`` (``"full"``/``"estimated"``) is required when given, else taken from prompt 0.
    ``table`` applies the stricter schema of a task table written by ``alignpro-lite estimate``.
    Errors name the location and field but not the file (the callers add it).
    """
    found = problem_form(spec)
    if form is not None and found != form:
        raise ValueError(
            f"prompt 0, field 'responses': expected a problem in {form} form, but this one is in "
            f"{found} form ({'has' if found == 'full' else 'has no'} 'responses'); "
            + (
                "an estimated table has 'R', 'V', 'se' on every candidate and no 'responses'."
                if form == "estimated"
                else "the full form needs 'responses' on every prompt and 'pi_F' on every candidate."
            )
        )
    if table:
        rules = schema.TASK_TABLE
    else:
        rules = schema.PROBLEM_FULL if found == "full" else schema.PROBLEM_TABLE
    clean = rules.check(spec)
    full = found == "full"
    prompts = clean["prompts"]
    n_x = len(prompts)
    n_c = max(len(p["candidates"]) for p in prompts)
    n_y = max(len(p["responses"]) for p in prompts) if full else 1
    if n_x * n_c * n_y > schema.MAX_CELLS:
        shape = f"{n_x} x {n_c} x {n_y}" if full else f"{n_x} x {n_c}"
        raise ValueError(
            f"field 'prompts': the padded table would have {n_x * n_c * n_y:,} cells "
            f"({shape}: prompts x most candidates{' x most responses' if full else ''}); the "
            f"limit is {schema.MAX_CELLS:,}. Split the problem into several files."
        )
    lo, hi = clean.get("reward_range", (None, None))
    for i, p in enumerate(prompts):
        _check_prompt(p, i, full, lo, hi)
    if not any(p["weight"] > 0 for p in prompts):
        raise ValueError(
            "field 'weight': every prompt has weight 0; at least one prompt needs weight > 0 "
            "(omit 'weight' everywhere for equal weights)."
        )
    return clean


def _check_prompt(p: dict, i: int, full: bool, lo: float | None, hi: float | None) -> None:
    """The rules that span fields of one prompt (the schema checked each field alone)."""
    at = f"prompt {i}"
    cs = p["candidates"]
    if cs[0]["text"].strip() != p["text"].strip():
        raise ValueError(
            f"{at}, candidate 0, field 'text': candidate 0 must be the original prompt (the same "
            f"text as the prompt's 'text' {p['text'][:40]!r}), got {cs[0]['text'][:60]!r}. Put "
            "the original prompt first."
        )
    total = sum(c["rho_sft"] for c in cs)
    if abs(total - 1.0) > schema.PROB_SUM_ATOL:
        raise ValueError(
            f"{at} ({p['text'][:40]!r}), field 'rho_sft': rho_sft over its candidates sums to "
            f"{total:.4f}, not 1. Make the {len(cs)} values sum to 1 (a rounding error up to "
            f"{schema.PROB_SUM_ATOL:g} is renormalised)."
        )
    tol = 1e-9 * (hi - lo) if lo is not None else 0.0
    if full:
        rs = p["responses"]
        for j, c in enumerate(cs):
            if len(c["pi_F"]) != len(rs):
                raise ValueError(
                    f"{at}, candidate {j}, field 'pi_F': pi_F has {len(c['pi_F'])} entries but "
                    f"the prompt has {len(rs)} responses; give one probability per response."
                )
            s = sum(c["pi_F"])
            if abs(s - 1.0) > schema.PROB_SUM_ATOL:
                raise ValueError(
                    f"{at}, candidate {j}, field 'pi_F': the probabilities sum to {s:.4f}, not 1. "
                    f"Make them sum to 1 (a rounding error up to {schema.PROB_SUM_ATOL:g} is "
                    "renormalised)."
                )
        if lo is not None:
            for k, y in enumerate(rs):
                if not lo - tol <= y["reward"] <= hi + tol:
                    raise ValueError(
                        f"{at}, response {k}, field 'reward': {y['reward']:g} is outside "
                        f"reward_range [{lo:g}, {hi:g}]; fix the reward or widen reward_range."
                    )
    elif lo is not None:
        for j, c in enumerate(cs):
            if not lo - tol <= c["R"] <= hi + tol:
                raise ValueError(
                    f"{at}, candidate {j}, field 'R': {c['R']:g} is outside reward_range "
                    f"[{lo:g}, {hi:g}]; R is a mean reward, so it must lie in the range. Fix R "
                    "or widen reward_range."
                )
            v_max = (hi - lo) ** 2 / 2  # sample variance (ddof >= 1) of values in [lo, hi]
            if c["V"] > v_max * (1 + 1e-9):
                raise ValueError(
                    f"{at}, candidate {j}, field 'V': {c['V']:g} is larger than any variance of "
                    f"rewards in reward_range [{lo:g}, {hi:g}] can be ((hi - lo)^2 / 2 = "
                    f"{v_max:g}); fix V or widen reward_range."
                )


def problem_from_dict(spec: dict, form: str | None = None) -> DiscreteProblem:
    """Build a :class:`DiscreteProblem` from the parsed JSON format (validated first).

    Errors name the location (prompt i / candidate j / response k) and the field.
    """
    return build_problem(check_problem_spec(spec, form))


def build_problem(clean: dict) -> DiscreteProblem:
    """The :class:`DiscreteProblem` of a spec that :func:`check_problem_spec` returned."""
    prompts = clean["prompts"]
    full = "responses" in prompts[0]
    n_x = len(prompts)
    n_c = max(len(p["candidates"]) for p in prompts)
    n_y = max(len(p["responses"]) for p in prompts) if full else 0

    rho_sft = np.zeros((n_x, n_c))
    P = np.array([p["weight"] for p in prompts], dtype=float)
    pi_F = np.zeros((n_x, n_c, n_y)) if full else None
    r = np.zeros((n_x, n_y)) if full else None
    R, V, se = (np.zeros((n_x, n_c)) for _ in range(3))
    texts, cands, resps = [], [], []
    for i, p in enumerate(prompts):
        cs = p["candidates"]
        m = len(cs)
        rho_sft[i, :m] = [c["rho_sft"] for c in cs]
        rho_sft[i] /= rho_sft[i].sum()
        if full:
            rs = p["responses"]
            rewards = [y["reward"] for y in rs]
            r[i, : len(rs)] = rewards
            r[i, len(rs) :] = min(rewards)  # padding: never sampled, inside the range
            resps.append([y["text"] for y in rs])
            for j, c in enumerate(cs):
                probs = np.asarray(c["pi_F"], dtype=float)
                pi_F[i, j, : len(probs)] = probs / probs.sum()
            pi_F[i, m:, 0] = 1.0  # padded candidates: impossible, value irrelevant
        else:
            R[i, :m] = [c["R"] for c in cs]
            V[i, :m] = [c["V"] for c in cs]
            se[i, :m] = [c["se"] for c in cs]
            R[i, m:] = R[i, :m].min()
        cands.append([c["text"] for c in cs])
        texts.append(p["text"])
    rr = clean.get("reward_range")
    return DiscreteProblem(
        rho_sft=rho_sft,
        P=P / P.sum(),
        pi_F=pi_F,
        r=r,
        R_table=None if full else R,
        V_table=None if full else V,
        se=None if full else se,
        r_range=(rr[0], rr[1]) if rr is not None else None,
        prompts=texts,
        candidates=cands,
        responses=resps,
        name=clean.get("name", "problem"),
        description=clean.get("description", ""),
    )


def save_problem(problem: DiscreteProblem, path: str | Path) -> Path:
    """Write ``problem`` in the JSON format that :func:`load_problem` reads (atomically)."""
    prompts = []
    for i in range(problem.n_x):
        n_c = len(problem.candidates[i]) if problem.candidates else problem.n_c
        cands = []
        for j in range(n_c):
            c = {"text": problem.candidates[i][j] if problem.candidates else f"candidate {j}"}
            c["rho_sft"] = float(problem.rho_sft[i, j])
            if problem.tabular:
                n_y = len(problem.responses[i]) if problem.responses else problem.pi_F.shape[2]
                c["pi_F"] = [float(v) for v in problem.pi_F[i, j, :n_y]]
            else:
                c["R"] = float(problem.R[i, j])
                c["V"] = float(problem.V[i, j])
                if problem.se is not None:
                    c["se"] = float(problem.se[i, j])
            cands.append(c)
        entry = {"text": problem.prompts[i] if problem.prompts else cands[0]["text"]}
        entry["weight"] = float(problem.P[i])
        if problem.tabular:
            n_y = len(problem.responses[i]) if problem.responses else problem.pi_F.shape[2]
            names = problem.responses[i] if problem.responses else [f"y{k}" for k in range(n_y)]
            entry["responses"] = [
                {"text": names[k], "reward": float(problem.r[i, k])} for k in range(n_y)
            ]
        entry["candidates"] = cands
        prompts.append(entry)
    spec = {"name": problem.name, "description": problem.description, "prompts": prompts}
    if problem.r_range is not None and problem.r_range[0] < problem.r_range[1]:
        # a file's reward_range needs lo < hi: a degenerate range (all rewards equal) is left out
        spec["reward_range"] = [float(v) for v in problem.r_range]
    path = Path(path)
    tmp = tmp_path(path)
    tmp.write_text(json.dumps(spec, indent=1), encoding="utf-8")
    tmp.replace(path)
    return path
