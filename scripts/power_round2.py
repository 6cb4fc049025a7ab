"""Power analysis for the round-2 preregistration of the capstone comparison (TRAIN data only).

Run (about a minute, one thread):
    python scripts/power_round2.py          (writes runs/round2/power/*.csv, prints the tables)
Reads (all train-side, nothing from the test split):
  runs/bank/{task}/{rewrites,answers,responses}.jsonl   the seed-0 sample banks (60 train prompts)
  data/tasks/{task}_train.jsonl                          labels, train candidates (memorisation)
  data/headroom/{task}.csv, data/headroom/weights.csv    headroom tables, preregistered λ and β
  runs/lam-sweep/fits/lam*/fit.json, rows.csv            NCA fit diagnostics (train rows only)
Never opens runs/report/, runs/lam-sweep/eval/, runs/lam-sweep/report/, data/tables/*_test*.
Writes runs/round2/power/power_table.csv (primary rows), power_sensitivity.csv (every scenario),
variance_table.csv (target 4), design_power.csv (the preregistered estimator: prompts x seeds,
NoFT's 32 answers, simulated), printout.txt is what `make`-free reruns print (tee it).

Quantities (the argument is in runs/round2/power/README.md):
  D_i = mean_k r_M(x_i, k) - mean_k r_NoFT(x_i, k), k = 1..8 answers, i = 1..n test prompts.
  E D_i = delta_i;  Var_i(D_i) = var(delta) + mean_i (s2_M,i + s2_0,i - 2 c_i) / 8.
  Effect: Align-Pro = cross-fitted tilt exp(R_hat/λ) over the bank's rho_sft rewrites at the
  round-2 λ (max(prereg λ, 2 median se)), shrunk to λ/s with s the NCA fit's realised slope
  (kindness λ sweep, interpolated by the weights' ESS); RLHF = tilt exp(r/β) over the 36 NoFT
  answers per prompt, shrunk to β/s the same way. var(delta) from split halves of the bank.
  Test: paired t over prompts, two-sided alpha = 0.05; "power" = P(t > t_crit), i.e. significant
  AND positive (what targets 1 and 2 need), averaged over the seed-to-seed spread of the fitted
  model's effect, N(0, tau_b^2 / seeds), tau_b = max(0.5 |effect|, bank-resampling sd) (a bound).
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

ROOT = Path(__file__).resolve().parents[1]
BANK = ROOT / "runs" / "bank"
OUT = ROOT / "runs" / "round2" / "power"
TASKS = ("kindness", "harmlessness", "helpfulness")
N_ANS = 8  # answers per test prompt (fingerprinted)
N_TEST = 60  # test prompts per task
ALPHA = 0.05
SEEDS = 3
MU, TAU = 1.0, 0.6  # hinge penalty of rewrite_values (replicate.json: mu 1.0, tau 0.6)
KAPPA = 0.5  # seed-to-seed sd of the fitted model's mean effect, as a fraction of |effect|
N_SIM = 2000  # parametric-bootstrap replicates (variance target, power cross-check)
RNG = np.random.default_rng(20260101)


# --------------------------------------------------------------------------- loading
def load(task: str) -> dict:
    """Arrays of one task's train bank, mirroring alignpro_lite.learn.bank.rewrite_values (the
    package import pulls in torch; the arithmetic is the same: R_hat = mean of the rewrite's own
    answers minus mu * max(0, tau - sim))."""
    rw = pd.read_json(BANK / task / "rewrites.jsonl", lines=True, dtype=False)
    an = pd.read_json(BANK / task / "answers.jsonl", lines=True, dtype=False)
    rs = pd.read_json(BANK / task / "responses.jsonl", lines=True, dtype=False)
    items = [json.loads(s) for s in open(ROOT / "data" / "tasks" / f"{task}_train.jsonl")]
    n_x = rw["prompt_id"].nunique()
    fit = rw[~rw["heldout"]].sort_values(["prompt_id", "j"])
    n_j = int(fit.groupby("prompt_id").size().unique()[0])
    a = an.merge(fit[["prompt_id", "j"]], on=["prompt_id", "j"]).sort_values(
        ["prompt_id", "j", "a"]
    )
    n_a = int(a["a"].nunique())
    t = a["reward"].to_numpy(float).reshape(n_x, n_j, n_a)  # answers' task reward
    sim = fit["sim"].to_numpy(float).reshape(n_x, n_j)
    pen = MU * np.maximum(0.0, TAU - sim)
    r0 = rs.sort_values(["prompt_id", "k"])["reward"].to_numpy(float).reshape(n_x, -1)
    cands = {c["text"].strip() for it in items for c in it["candidates"] if c["kind"] != "original"}
    memo = fit["x_prime"].str.strip().isin(cands).to_numpy().reshape(n_x, n_j)
    copy = fit["copy"].to_numpy(bool).reshape(n_x, n_j)
    labels = np.array([it["label"] or "all" for it in items][:n_x])
    return {"t": t, "pen": pen, "r0": r0, "memo": memo, "copy": copy, "labels": labels}


def weights_csv() -> pd.DataFrame:
    return pd.read_csv(ROOT / "data" / "headroom" / "weights.csv").set_index("task")


# --------------------------------------------------------------------------- tilts
def softmax_rows(R: np.ndarray, w) -> np.ndarray:
    """Self-normalised weights exp(R / w) over the samples of each row (w = inf: uniform; w may be
    one number or one per row). Entries with R = -inf get weight 0 (a row without any: NaN)."""
    w = np.asarray(w, dtype=float)
    ok = np.isfinite(R)
    with np.errstate(invalid="ignore", divide="ignore"):
        if w.ndim == 0 and math.isinf(w):
            return ok / ok.sum(axis=1, keepdims=True)
        z = np.where(ok, R / (w[:, None] if w.ndim == 1 else w), -np.inf)
        zmax = np.max(np.where(ok, z, -np.inf), axis=1, keepdims=True)
        e = np.where(ok, np.exp(z - zmax), 0.0)
        return e / e.sum(axis=1, keepdims=True)


def ess_frac(W: np.ndarray) -> float:
    return float(ess_rows(W).mean())


def ess_rows(W: np.ndarray) -> np.ndarray:
    return 1.0 / (W**2).sum(axis=1) / W.shape[1]


def ap_weights(t, pen, lam):
    return softmax_rows(t.mean(axis=2) - pen, lam)


def ap_crossfit_mean(t, pen, lam) -> np.ndarray:
    """Per prompt: E_{rho_lam}[reward] with the weights chosen on 2 of a rewrite's 3 answers and
    scored on the third (3-fold; no winner's curse; weights slightly noisier than the fit's)."""
    n_a = t.shape[2]
    J = np.zeros(t.shape[0])
    for a in range(n_a):
        rest = (t.sum(axis=2) - t[:, :, a]) / (n_a - 1)
        W = softmax_rows(rest - pen, lam)
        J += (W * t[:, :, a]).sum(axis=1)
    return J / n_a


def ap_within_var(t, pen, lam) -> np.ndarray:
    """Per prompt: variance of ONE answer of Align-Pro (rewrite x' ~ rho_lam, answer y ~ pi_F(x')):
    sum_j w_j s2_j + [sum_j w_j (m_j - m)^2 - sum_j w_j (1 - w_j) s2_j / n_a] (the bracket: the
    between-rewrite part, corrected for the noise of the 3-answer means m_j)."""
    W = ap_weights(t, pen, lam)
    m = t.mean(axis=2)
    s2 = t.var(axis=2, ddof=1)
    mbar = (W * m).sum(axis=1, keepdims=True)
    between = (W * (m - mbar) ** 2).sum(axis=1) - (W * (1 - W) * s2).sum(axis=1) / t.shape[2]
    return (W * s2).sum(axis=1) + np.maximum(between, 0.0)


def rl_weights(r0, beta):
    return softmax_rows(r0, beta)


def rl_mean(r0, beta) -> np.ndarray:
    return (rl_weights(r0, beta) * r0).sum(axis=1)


def rl_within_var(r0, beta) -> np.ndarray:
    W = rl_weights(r0, beta)
    m = (W * r0).sum(axis=1, keepdims=True)
    return (W * (r0 - m) ** 2).sum(axis=1) / np.maximum(1 - (W**2).sum(axis=1), 1e-12)


def tilt_kl(W, n_ok=None) -> float:
    """mean over prompts of KL(tilt || uniform over the row's n_ok usable samples), nats."""
    n = np.full(W.shape[0], W.shape[1]) if n_ok is None else np.asarray(n_ok)
    with np.errstate(divide="ignore", invalid="ignore"):
        kl = np.nansum(np.where(W > 0, W * np.log(W * n[:, None]), 0.0), axis=1)
    return float(kl[np.isfinite(W).all(axis=1)].mean())


def bon_matched(r0, kl) -> tuple[float, float]:
    """Best-of-n on the 36 NoFT answers with log n - (n-1)/n = kl (n interpolated, U-statistic)."""
    f = lambda n: math.log(n) - (n - 1) / n  # noqa: E731
    ns = np.arange(1, r0.shape[1] + 1)
    kls = np.array([f(n) for n in ns])
    n_real = float(np.interp(kl, kls, ns))
    s = np.sort(r0, axis=1)
    m = s.shape[1]

    def emax(n):
        w = np.array([math.comb(j, n - 1) for j in range(m)], float) / math.comb(m, n)
        return (s @ w).mean()

    lo = int(math.floor(n_real))
    hi = min(lo + 1, m)
    g = emax(lo) + (n_real - lo) * (emax(hi) - emax(lo))
    return n_real, float(g - r0.mean())


def maxcoupling_var(r0, W) -> np.ndarray:
    """Per prompt Var(Y_M - Y_0) when RLHF's answer and NoFT's are maximally coupled (the best any
    common-random-number scheme can do): p uniform on the 36 NoFT answers, q the tilt."""
    n = r0.shape[1]
    p = np.full(W.shape, 1.0 / n)
    out = np.zeros(r0.shape[0])
    for i in range(r0.shape[0]):
        q, pi, r = W[i], p[i], r0[i]
        tv = 0.5 * np.abs(q - pi).sum()
        d = (q * r).sum() - (pi * r).sum()
        if tv < 1e-12:
            out[i] = 0.0
            continue
        qr = np.maximum(q - pi, 0) / tv
        pr = np.maximum(pi - q, 0) / tv
        e2 = tv * (qr[:, None] * pr[None, :] * (r[:, None] - r[None, :]) ** 2).sum()
        out[i] = e2 - d**2
    return np.maximum(out, 0.0)


# --------------------------------------------------------------------------- NCA shrinkage
def nca_slope_map() -> pd.DataFrame:
    """The shipped kindness lambda sweep (round-2 NCA settings, seed 0): per lambda the weights'
    ESS (of 12) and the OLS slope of the fitted log-ratio f on its target log(N w) over the
    visited train rows. Train-side diagnostics only (fit.json)."""
    rows = []
    for p in sorted((ROOT / "runs" / "lam-sweep" / "fits").glob("lam*/fit.json")):
        d = json.loads(p.read_text())
        if isinstance(d.get("slope"), float) and math.isfinite(d["slope"]):
            rows.append(
                {
                    "lam": float(d["lam"]),
                    "ess_frac": d["ess_mean"] / 12.0,
                    "slope": d["slope"],
                    "slope_low": d["slope_low"],
                    "slope_high": d["slope_high"],
                    "steps": d["made_from"]["config"]["steps"],
                    "ppstep": d["made_from"]["config"]["prompts_per_step"],
                    "lr": d["made_from"]["config"]["lr"],
                    "visited": d["n_prompts_visited"],
                }
            )
    return pd.DataFrame(rows).sort_values("ess_frac")


def slope_for(ess, smap: pd.DataFrame):
    """Slope at a weight sharpness (ESS fraction), interpolated in the kindness sweep; the ESS
    fraction is the task-free measure of how peaked exp(R/w) is (the NCA gradient at rho_sft is
    (1/N - w_j)/2, a function of the weights only)."""
    return np.interp(ess, smap["ess_frac"], smap["slope"])


def fitted_tilt_check(task_data: dict) -> pd.DataFrame:
    """Kindness only: the realised tilt of each shipped NCA fit on its visited train prompts,
    rho_theta(j) ~ exp(f_j) over the 12 bank rows, vs the closed form exp(R_hat/lam) and the
    shrunk closed form exp(R_hat/(lam/slope)). In-sample (same answers pick and score)."""
    t, pen = task_data["t"], task_data["pen"]
    m = t.mean(axis=2)
    out = []
    for p in sorted((ROOT / "runs" / "lam-sweep" / "fits").glob("lam*/rows.csv")):
        d = json.loads((p.parent / "fit.json").read_text())
        if not (isinstance(d.get("slope"), float) and math.isfinite(d["slope"])):
            continue
        rows = pd.read_csv(p)
        rows = rows[~rows["heldout"]]
        vis = rows.groupby("prompt_id")["f"].apply(lambda s: s.notna().all())
        ids = vis[vis].index.to_numpy()
        f = rows[rows["prompt_id"].isin(ids)].sort_values(["prompt_id", "j"])["f"].to_numpy()
        f = f.reshape(len(ids), -1)
        Wf = softmax_rows(f, 1.0)
        lam = float(d["lam"])
        base = m[ids].mean(axis=1)
        g_fit = ((Wf * m[ids]).sum(axis=1) - base).mean()
        g_cf = ((ap_weights(t[ids], pen[ids], lam) * m[ids]).sum(axis=1) - base).mean()
        g_sh = ((ap_weights(t[ids], pen[ids], lam / d["slope"]) * m[ids]).sum(axis=1) - base).mean()
        out.append(
            {
                "lam": lam,
                "slope": d["slope"],
                "prompts": len(ids),
                "gain_fitted_f": g_fit,
                "gain_closed_form": g_cf,
                "gain_lam/slope": g_sh,
            }
        )
    return pd.DataFrame(out)


def draw_rows(Wrows: np.ndarray, k: int) -> np.ndarray:
    """k independent draws per row from the row's categorical weights, (rows, k) indices."""
    cw = np.cumsum(Wrows, axis=1)
    cw[:, -1] = 1.0
    u = RNG.random((Wrows.shape[0], k))
    return (u[:, :, None] > cw[:, None, :]).sum(axis=2)


def without_replacement(m: int, rows: int, k: int) -> np.ndarray:
    """k of m indices without replacement per row, (rows, k)."""
    return RNG.random((rows, m)).argsort(axis=1)[:, :k]


# --------------------------------------------------------------------------- power
_GH_X, _GH_W = np.polynomial.hermite_e.hermegauss(41)
_GH_W = _GH_W / _GH_W.sum()


def power(delta: float, sd: float, n: int, tau_b: float = 0.0) -> float:
    """P(paired t over n prompts is significant at ALPHA two-sided AND positive), averaged over
    the fitted model's realised effect delta + b, b ~ N(0, tau_b^2) (seed-to-seed spread)."""
    if sd <= 0:
        return float(delta > 0)
    df = n - 1
    tc = stats.t.ppf(1 - ALPHA / 2, df)
    eff = delta + tau_b * _GH_X if tau_b > 0 else np.array([delta])
    wts = _GH_W if tau_b > 0 else np.array([1.0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p = stats.nct.sf(tc, df, eff * math.sqrt(n) / sd)
    return float((wts * p).sum())


def n_for(delta, sd, tau_b=0.0, target=0.8, n_max=20000):
    """Smallest n with power >= target (None: not reached by n_max; the seed spread caps power
    at P(delta + b > 0))."""
    if delta <= 0 or power(delta, sd, n_max, tau_b) < target:
        return None
    lo, hi = 2, n_max
    while lo < hi:
        mid = (lo + hi) // 2
        if power(delta, sd, mid, tau_b) >= target:
            hi = mid
        else:
            lo = mid + 1
    return lo


def k_for(delta, var_delta, noise_k1, tau_b, n=N_TEST, target=0.8, k_max=512):
    """Smallest number of answers per prompt K (n prompts, 1 seed) with power >= target; noise_k1
    is the per-prompt noise variance of ONE answer pair, averaged over prompts."""
    if delta <= 0 or power(delta, math.sqrt(var_delta + noise_k1 / k_max), n, tau_b) < target:
        return None
    for k in range(1, k_max + 1):
        if power(delta, math.sqrt(var_delta + noise_k1 / k), n, tau_b) >= target:
            return k
    return None


# --------------------------------------------------------------------------- one task
def split_half_cov(dA, dB) -> float:
    return float(np.cov(dA, dB, ddof=1)[0, 1])


AP_SCEN = (
    "rho_sft (λ=∞)",
    "closed form λ2",
    "fit-shrunk λ2/s",
    "fit-shrunk per prompt",
    "rho_sft, novel rewrites only",
    "fit-shrunk λ2/s, novel only",
)
RL_SCEN = ("closed form β", "fit-shrunk β/s", "fit-shrunk per prompt")
PRIMARY = ("fit-shrunk λ2/s", "fit-shrunk β/s")


def analyse(task: str, W: pd.DataFrame, smap: pd.DataFrame) -> tuple[list, list, dict]:
    D = load(task)
    t, pen, r0 = D["t"], D["pen"], D["r0"]
    n_x, n_j, n_a = t.shape
    lam1 = float(W.loc[task, "lam"])
    beta = float(W.loc[task, "beta"])
    se = t.std(axis=2, ddof=1) / math.sqrt(n_a)
    lam2 = max(lam1, 2.0 * float(np.nanmedian(se)))  # round 2: noise-aware rule (exact.nca)
    Wap2 = ap_weights(t, pen, lam2)
    s_ap = float(slope_for(ess_frac(Wap2), smap))
    lam_eff = lam2 / s_ap
    lam_eff_i = lam2 / slope_for(ess_rows(Wap2), smap)  # per prompt
    Wrl = rl_weights(r0, beta)
    s_rl = float(slope_for(ess_frac(Wrl), smap))
    beta_eff = beta / s_rl
    beta_eff_i = beta / slope_for(ess_rows(Wrl), smap)

    m0 = r0.mean(axis=1)
    v0 = r0.var(axis=1, ddof=1)
    h = n_j // 2
    r0A, r0B = r0[:, 0::2], r0[:, 1::2]
    lab = D["labels"]
    info = {
        "task": task,
        "lam_prereg": lam1,
        "lam_round2": lam2,
        "ess_ap": ess_frac(Wap2),
        "slope_ap": s_ap,
        "lam_eff": lam_eff,
        "beta": beta,
        "ess_rl": ess_frac(Wrl),
        "slope_rl": s_rl,
        "beta_eff": beta_eff,
        "noft_mean": m0.mean(),
        "noft_within": v0.mean(),
        "copy_rate": D["copy"].mean(),
        "memorised_rate": D["memo"].mean(),
    }
    m_j = t.mean(axis=2)
    memo = D["memo"]
    info["base_gain_memorised"] = float(m_j[memo].mean() - m0.mean()) if memo.any() else math.nan
    info["base_gain_novel"] = float(m_j[~memo].mean() - m0.mean()) if (~memo).any() else math.nan
    if task == "harmlessness":
        for L in ("harmful", "benign"):
            idx = lab == L
            info[f"noft_{L}_mean"] = r0[idx].mean()
            info[f"noft_{L}_within"] = v0[idx].mean()
            info[f"noft_{L}_share_reward_1"] = (r0[idx] == 1.0).mean()

    def method_row(name, scen, J, JA, JB, within_var, c_opt, extra):
        keep = np.isfinite(J) & np.isfinite(JA) & np.isfinite(JB) & np.isfinite(within_var)
        n_x = int(keep.sum())  # prompts usable in this scenario (all but "novel only")
        J, JA, JB, within_var, c_opt = J[keep], JA[keep], JB[keep], within_var[keep], c_opt[keep]
        m0, v0, lab_ = r0.mean(axis=1)[keep], r0.var(axis=1, ddof=1)[keep], lab[keep]
        d_full = J - m0
        dA, dB = JA - r0A[keep].mean(axis=1), JB - r0B[keep].mean(axis=1)
        var_delta = max(split_half_cov(dA, dB), 0.0)
        var_upper = float(d_full.var(ddof=1))  # not noise-corrected: an upper bound
        tau_bank = math.sqrt(np.var(dA - dB, ddof=1) / 4.0 / n_x)
        delta = float(d_full.mean())
        se_tr = float(d_full.std(ddof=1) / math.sqrt(n_x))
        k1 = within_var + v0  # one answer pair, c = 0
        noise1 = (k1 / N_ANS).mean()
        noise1_opt = ((k1 - 2 * c_opt) / N_ANS).mean()
        sd1 = math.sqrt(var_delta + noise1)
        # 3 seeds, evaluation streams fixed by EVAL_SEED: NoFT identical across seeds; the
        # method's answers correlated across seeds with rho_s in [0, 1]
        sd3_opt = math.sqrt(var_delta + ((within_var / SEEDS + v0) / N_ANS).mean())
        tau_b = max(KAPPA * abs(delta), tau_bank)
        tau3 = tau_b / math.sqrt(SEEDS)
        r = {
            "task": task,
            "method": name,
            "scenario": scen,
            "effect": delta,
            "se_train": se_tr,
            "sd_between": math.sqrt(var_delta),
            "sd_noise8": math.sqrt(noise1),
            "sd_D": sd1,
            "sd_D_upper": math.sqrt(var_upper + noise1),
            "sd_D_crn_opt": math.sqrt(var_delta + noise1_opt),
            "sd_D_3seeds_opt": sd3_opt,
            "tau_b": tau_b,
            "tau_bank": tau_bank,
            "power_1seed_cond": power(delta, sd1, N_TEST),
            "power_1seed": power(delta, sd1, N_TEST, tau_b),
            "power_1seed_sdupper": power(delta, math.sqrt(var_upper + noise1), N_TEST, tau_b),
            "power_1seed_crn_opt": power(delta, math.sqrt(var_delta + noise1_opt), N_TEST, tau_b),
            "assurance_1seed": power(delta, sd1, N_TEST, math.hypot(tau_b, se_tr)),
            "power_3seeds": power(delta, sd1, N_TEST, tau3),
            "power_3seeds_opt": power(delta, sd3_opt, N_TEST, tau3),
            "n80_1seed": n_for(delta, sd1, tau_b),
            "n80_3seeds": n_for(delta, sd1, tau3),
            "n80_3seeds_opt": n_for(delta, sd3_opt, tau3),
            "K80_1seed": k_for(delta, var_delta, float(k1.mean()), tau_b),
            "within_var": float(within_var.mean()),
            "n_prompts_train": n_x,
            **extra,
        }
        if task == "harmlessness":
            for L in ("harmful", "benign"):
                r[f"effect_{L}"] = float(d_full[lab_ == L].mean())
        return r

    rows, var_rows = [], []
    ap_lams = {
        AP_SCEN[0]: math.inf,
        AP_SCEN[1]: lam2,
        AP_SCEN[2]: lam_eff,
        AP_SCEN[3]: lam_eff_i,
        AP_SCEN[4]: math.inf,
        AP_SCEN[5]: lam_eff,
    }
    pen_all = pen
    for scen, lam in ap_lams.items():
        # "novel only": the rewrites that reproduce a train candidate verbatim (the SFT prompter's
        # own training targets, impossible on test prompts) are dropped
        pen = np.where(memo, np.inf, pen_all) if "novel" in scen else pen_all
        J = ap_crossfit_mean(t, pen, lam)
        JA = ap_crossfit_mean(t[:, :h], pen[:, :h], lam)
        JB = ap_crossfit_mean(t[:, h:], pen[:, h:], lam)
        wv = ap_within_var(t, pen, lam)
        # CRN: the frozen model answers x' != x (copy rate ~0), so c = 0; the optimistic
        # column gives the copies a perfect pairing.
        c_opt = D["copy"].mean() * np.sqrt(wv * v0)
        W_ = ap_weights(t, pen, lam)
        n_ok = np.isfinite(t.mean(axis=2) - pen).sum(axis=1)
        rows.append(
            method_row(
                "Align-Pro",
                scen,
                J,
                JA,
                JB,
                wv,
                c_opt,
                {
                    "weight": float(np.median(lam)),
                    "kl_tilt": tilt_kl(W_, n_ok),
                    "ess_frac": ess_frac(W_),
                },
            )
        )
        # ---- variance target (target 4): within-prompt and total variance, NoFT vs Align-Pro
        k = np.isfinite(JA) & np.isfinite(JB) & np.isfinite(wv)
        ik = np.flatnonzero(k)
        between_ap = max(split_half_cov(JA[k], JB[k]), 0.0)
        between_0 = max(split_half_cov(r0A[k].mean(axis=1), r0B[k].mean(axis=1)), 0.0)
        diffs = np.empty(N_SIM)
        for s in range(N_SIM):  # parametric bootstrap: 60 prompts resampled, 8 answers each
            ii = ik[RNG.integers(0, len(ik), N_TEST)]
            jj = draw_rows(W_[ii], N_ANS)
            aa = RNG.integers(0, n_a, (N_TEST, N_ANS))
            yap = t[ii[:, None], jj, aa]
            y0 = np.take_along_axis(r0[ii], without_replacement(r0.shape[1], N_TEST, N_ANS), 1)
            diffs[s] = yap.var(axis=1, ddof=1).mean() - y0.var(axis=1, ddof=1).mean()
        pred = float(wv[k].mean() - v0[k].mean())
        se_d = float(diffs.std(ddof=1))
        var_rows.append(
            {
                "task": task,
                "scenario": scen,
                "noft_within": float(v0[k].mean()),
                "ap_within": float(wv[k].mean()),
                "noft_total": between_0 + float(v0[k].mean()),
                "ap_total": between_ap + float(wv[k].mean()),
                "within_diff_pred": pred,
                "within_diff_se_test": se_d,
                "P_target4_met": float(stats.norm.cdf(-pred / se_d)),
            }
        )
    rl_betas = {RL_SCEN[0]: beta, RL_SCEN[1]: beta_eff, RL_SCEN[2]: beta_eff_i}
    for scen, b in rl_betas.items():
        J, JA, JB = rl_mean(r0, b), rl_mean(r0A, b), rl_mean(r0B, b)
        wv = rl_within_var(r0, b)
        Wr = rl_weights(r0, b)
        vd = maxcoupling_var(r0, Wr)  # Var(Y_M - Y_0) at the best coupling
        c_opt = (wv + v0 - vd) / 2
        kl = tilt_kl(Wr)
        n_bon, g_bon = bon_matched(r0, kl)
        rows.append(
            method_row(
                "RLHF",
                scen,
                J,
                JA,
                JB,
                wv,
                c_opt,
                {
                    "weight": float(np.median(b)),
                    "kl_tilt": kl,
                    "ess_frac": ess_frac(Wr),
                    "bon_n_at_kl": n_bon,
                    "bon_gain_at_kl": g_bon,
                },
            )
        )
    return rows, var_rows, info


def sim_power_check(task: str, lam: float, beta: float) -> dict:
    """Cross-check of the analytic power (1 seed, c = 0, no seed spread): parametric bootstrap
    that takes the bank's per-prompt answer distributions as the truth (so their estimation noise
    counts as between-prompt spread: compare with power_1seed_cond at sd_D_upper). 60 prompts
    resampled, 8 answers per method per prompt; Align-Pro's answer a of rewrite j ~ w^(-a)
    (cross-fitted), RLHF's answer ~ the tilt over the 36 NoFT answers; paired t-test each time."""
    D = load(task)
    t, pen, r0 = D["t"], D["pen"], D["r0"]
    n_x, n_j, n_a = t.shape
    Wa = [softmax_rows((t.sum(axis=2) - t[:, :, a]) / (n_a - 1) - pen, lam) for a in range(n_a)]
    Wr = rl_weights(r0, beta)
    tc = stats.t.ppf(1 - ALPHA / 2, N_TEST - 1)
    hits = {"ap": 0, "rl": 0}
    n_sim = N_SIM
    for _ in range(n_sim):
        ii = RNG.integers(0, n_x, N_TEST)
        y0 = np.take_along_axis(r0[ii], without_replacement(r0.shape[1], N_TEST, N_ANS), 1)
        aa = RNG.integers(0, n_a, (N_TEST, N_ANS))
        jj = np.zeros((N_TEST, N_ANS), dtype=int)
        for a in range(n_a):
            jj = np.where(aa == a, draw_rows(Wa[a][ii], N_ANS), jj)
        yap = t[ii[:, None], jj, aa]
        yrl = np.take_along_axis(r0[ii], draw_rows(Wr[ii], N_ANS), 1)
        for y, which in ((yap, "ap"), (yrl, "rl")):
            d = y.mean(axis=1) - y0.mean(axis=1)
            sd = d.std(ddof=1)
            tt = (
                d.mean() / (sd / math.sqrt(N_TEST)) if sd > 0 else math.copysign(math.inf, d.mean())
            )
            hits[which] += int(tt > tc)
    return {"task": task, "sim_power_AP": hits["ap"] / n_sim, "sim_power_RLHF": hits["rl"] / n_sim}


# --------------------------------------------------------------------------- main
def fmt_n(v):
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{int(v)}"


def p_at_least(ps, k):
    """P(at least k successes) of independent Bernoullis."""
    dist = np.array([1.0])
    for p in ps:
        dist = np.convolve(dist, [1 - p, p])
    return float(dist[k:].sum())


# --------------------------------------------------------------------------- the preregistered design
N_NOFT = 32  # NoFT answers per test prompt (the pool, shared by the three seeds)
CVS = (0.0, 0.25, 0.5)  # seed-to-seed sd of a method's effect, as a fraction of |effect|
N_DESIGN_SIM = 4000


def crossed_ci(d: np.ndarray, level: float = 0.95) -> tuple[float, float, float, float]:
    """Mean and CI of ``d`` (prompts x seeds) with prompts and seeds both random (two-way crossed
    ANOVA): se^2 = MS_p/(nS) + max(0, (MS_s - MS_e)/n)/S, Satterthwaite df. One seed: paired t.
    The same estimator as ``alignpro_lite.experiment.pooled.crossed_mean_ci`` (checked in tests)."""
    n, S = d.shape
    m = d.mean()
    if S == 1:
        se = d[:, 0].std(ddof=1) / math.sqrt(n)
        h = stats.t.ppf(0.5 + level / 2, n - 1) * se
        return m, m - h, m + h, n - 1
    pm, sm = d.mean(1), d.mean(0)
    ms_p = S * ((pm - m) ** 2).sum() / (n - 1)
    ms_s = n * ((sm - m) ** 2).sum() / (S - 1)
    e = d - pm[:, None] - sm[None, :] + m
    ms_e = (e**2).sum() / ((n - 1) * (S - 1))
    a = ms_p / (n * S)
    b = max(0.0, (ms_s - ms_e) / n) / S
    df = (a + b) ** 2 / (a**2 / (n - 1) + b**2 / (S - 1))
    h = stats.t.ppf(0.5 + level / 2, df) * math.sqrt(a + b)
    return m, m - h, m + h, df


def design_power(delta, sd_between, s2_m, s2_0, cv, rho_s, seeds=SEEDS, n=N_TEST, k_m=N_ANS,
                 k_0=N_NOFT, reps=N_DESIGN_SIM, seed=0) -> float:  # fmt: skip
    """P(crossed CI's lower end > 0) when d_is = delta + p_i + b_s + v_is - u_i: p_i ~ N(0,
    sd_between^2), b_s ~ N(0, (cv delta)^2), NoFT noise u_i ~ N(0, s2_0/k_0) shared by the seeds,
    the method's noise v_is ~ N(0, s2_m/k_m) with correlation rho_s between seeds."""
    rng = np.random.default_rng(seed)
    hits = 0
    for _ in range(reps):
        p = rng.normal(0, sd_between, n)[:, None]
        b = rng.normal(0, abs(cv * delta), seeds)[None, :]
        u = rng.normal(0, math.sqrt(s2_0 / k_0), n)[:, None]
        z0 = rng.normal(0, 1, n)[:, None]
        z = rng.normal(0, 1, (n, seeds))
        v = math.sqrt(s2_m / k_m) * (math.sqrt(rho_s) * z0 + math.sqrt(1 - rho_s) * z)
        lo = crossed_ci(delta + p + b + v - u)[1]
        hits += lo > 0
    return hits / reps


def design_table(primary: pd.DataFrame, info: pd.DataFrame) -> pd.DataFrame:
    """Power of the preregistered estimator per task and method, by seed spread and rho_s."""
    noft = info.set_index("task")["noft_within"]
    rows = []
    for r in primary.itertuples():
        for cv in CVS:
            for rho in (0.0, 1.0):
                for seeds in (1, SEEDS):
                    if seeds == 1 and rho == 1.0:
                        continue
                    pw = design_power(r.effect, r.sd_between, r.within_var, noft[r.task], cv, rho,
                                      seeds=seeds, reps=N_DESIGN_SIM // (2 if seeds == 1 else 1))  # fmt: skip
                    rows.append({"task": r.task, "method": r.method, "effect": r.effect,
                                 "sd_between": r.sd_between, "var_within_method": r.within_var,
                                 "var_within_noft": noft[r.task], "seed_cv": cv, "rho_s": rho,
                                 "seeds": seeds, "power": pw})  # fmt: skip
    return pd.DataFrame(rows)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    pd.set_option("display.width", 220)
    pd.set_option("display.max_columns", 40)
    W = weights_csv()
    smap = nca_slope_map()
    print("NCA fit shrinkage, kindness lambda sweep (train rows, round-2 NCA settings):")
    print(smap.round(4).to_string(index=False))
    all_rows, var_rows, infos = [], [], []
    for task in TASKS:
        r, v, info = analyse(task, W, smap)
        all_rows += r
        var_rows += v
        infos.append(info)
    info = pd.DataFrame(infos)
    print("\nSettings and train facts per task:")
    print(info.set_index("task").T.to_string(float_format=lambda x: f"{x:.4g}"))

    print(
        "\nCheck of the shrinkage rule (kindness, visited train prompts, in-sample gains over "
        "rho_sft):"
    )
    print(fitted_tilt_check(load("kindness")).round(4).to_string(index=False))

    print("\nHeadroom tables (template candidates, data/headroom/*.csv), for reference:")
    for task in TASKS:
        h = pd.read_csv(ROOT / "data" / "headroom" / f"{task}.csv")
        h = h[h["what"].str.startswith(("rho*", "best-of-4"))]
        print(
            h[["task", "what", "gain", "se", "z", "kl"]]
            .round(4)
            .to_string(index=False, header=task == TASKS[0])
        )

    full = pd.DataFrame(all_rows)
    full.to_csv(OUT / "power_sensitivity.csv", index=False)
    primary = full[full["scenario"].isin(PRIMARY)].copy()
    primary.to_csv(OUT / "power_table.csv", index=False)
    pd.DataFrame(var_rows).to_csv(OUT / "variance_table.csv", index=False)

    primary["ci_halfwidth"] = (
        stats.t.ppf(1 - ALPHA / 2, N_TEST - 1) * primary["sd_D"] / math.sqrt(N_TEST)
    )
    cols = [
        "task",
        "method",
        "effect",
        "se_train",
        "sd_D",
        "ci_halfwidth",
        "power_1seed_cond",
        "power_1seed",
        "power_3seeds",
        "power_3seeds_opt",
        "n80_1seed",
        "n80_3seeds",
        "n80_3seeds_opt",
        "K80_1seed",
    ]
    show = primary[cols].copy()
    for c in ("n80_1seed", "n80_3seeds", "n80_3seeds_opt", "K80_1seed"):
        show[c] = show[c].map(fmt_n)
    print(
        "\nPRIMARY TABLE (fit-shrunk effects, c = 0, seed sd tau_b = max(0.5|effect|, bank sd);"
        "\n  power = P(paired t significant at 0.05 two-sided AND positive), n = 60 prompts x 8 "
        "answers;\n  3 seeds: answers fully correlated across seeds (rho_s = 1) / independent "
        "(rho_s = 0, _opt);\n  n80: prompts for 80 %; K80: answers per prompt for 80 % at n = 60):"
    )
    print(show.round(3).to_string(index=False))

    g = primary.pivot(index="task", columns="method", values="effect")
    print(
        "\nPredicted gap closed (Align-Pro effect / RLHF effect), primary:",
        ", ".join(f"{k} {v:.2f}" for k, v in (g["Align-Pro"] / g["RLHF"]).items()),
    )
    cols_s = [
        "task",
        "method",
        "scenario",
        "weight",
        "kl_tilt",
        "effect",
        "se_train",
        "sd_between",
        "sd_noise8",
        "sd_D",
        "sd_D_upper",
        "power_1seed_cond",
        "power_1seed",
        "power_1seed_sdupper",
        "power_1seed_crn_opt",
        "assurance_1seed",
        "power_3seeds",
        "power_3seeds_opt",
        "n80_1seed",
    ]
    s = full[cols_s].copy()
    s["n80_1seed"] = s["n80_1seed"].map(fmt_n)
    print("\nSENSITIVITY (all scenarios):")
    print(s.round(3).to_string(index=False))
    hm = full[full["task"] == "harmlessness"][
        ["method", "scenario", "effect", "effect_harmful", "effect_benign"]
    ]
    print("\nHarmlessness by label (24 harmful / 36 benign train prompts):")
    print(hm.round(4).to_string(index=False))
    rl = full[full["method"] == "RLHF"][
        ["task", "scenario", "kl_tilt", "effect", "bon_n_at_kl", "bon_gain_at_kl"]
    ]
    print(
        "\nRLHF cross-check: best-of-n on the 36 NoFT answers at the tilt's KL "
        "(log n - (n-1)/n = KL):"
    )
    print(rl.round(3).to_string(index=False))

    print("\nVARIANCE (target 4; per answer; P = P(test point estimate of within-var AP < NoFT)):")
    print(pd.DataFrame(var_rows).round(4).to_string(index=False))

    print(
        "\nParametric-bootstrap cross-check (1 seed, c = 0, no seed spread, bank noise counted "
        "as spread):"
    )
    chk = []
    for task, inf in zip(TASKS, infos, strict=True):
        c = sim_power_check(task, inf["lam_eff"], inf["beta_eff"])
        a = primary[primary.task == task].set_index("method")
        sdu = {m: power(a.loc[m, "effect"], a.loc[m, "sd_D_upper"], N_TEST) for m in a.index}
        c.update(
            {
                "analytic_AP_sdupper": sdu["Align-Pro"],
                "analytic_RLHF_sdupper": sdu["RLHF"],
                "analytic_AP": a.loc["Align-Pro", "power_1seed_cond"],
                "analytic_RLHF": a.loc["RLHF", "power_1seed_cond"],
            }
        )
        chk.append(c)
    print(pd.DataFrame(chk).round(3).to_string(index=False))

    print("\nProbability that each preregistered target is met (tasks independent), primary:")
    for col in ("power_1seed", "power_3seeds", "power_3seeds_opt"):
        rl_p = primary[primary.method == "RLHF"][col].to_numpy()
        ap_p = primary[primary.method == "Align-Pro"][col].to_numpy()
        print(
            f"  {col:17s} target 1 (RLHF 3/3): {p_at_least(rl_p, 3):.2f}   "
            f"target 2 (Align-Pro >= 2/3): {p_at_least(ap_p, 2):.2f}"
        )
    vt = pd.DataFrame(var_rows)
    for scen in AP_SCEN:
        p = vt[vt.scenario == scen]["P_target4_met"].to_numpy()
        print(f"  target 4 (within-var AP < NoFT on >= 2/3), {scen}: {p_at_least(p, 2):.2f}")

    print(
        f"\nTHE PREREGISTERED ESTIMATOR (simulated, {N_DESIGN_SIM} runs): NoFT = mean of "
        f"{N_NOFT} answers per prompt (shared by the seeds), each seed's method = mean of "
        f"{N_ANS};\n  pooled over {SEEDS} seeds with prompts and seeds random (crossed CI), or "
        "one seed (paired t); power = P(95 % CI's lower end > 0).\n  seed_cv: seed-to-seed sd "
        "of the effect / |effect|; rho_s: correlation of a method's answer noise across seeds."
    )
    dt = design_table(primary, info)
    dt.to_csv(OUT / "design_power.csv", index=False)
    show = dt.pivot_table(
        index=["task", "method", "effect"], columns=["seeds", "rho_s", "seed_cv"], values="power"
    )
    print(show.round(2).to_string())

    low = primary[primary["power_1seed"] < 0.8]
    print("\nCells below 80 % power at n = 60, one seed (primary):")
    for r in low.itertuples():
        print(
            f"  {r.task:13s} {r.method:9s} effect {r.effect:+.4f}  power {r.power_1seed:.2f}"
            f"  (3 seeds: {r.power_3seeds:.2f}-{r.power_3seeds_opt:.2f})  prompts for 80 %: "
            f"{fmt_n(r.n80_1seed)}  answers/prompt for 80 %: {fmt_n(r.K80_1seed)}"
        )


if __name__ == "__main__":
    main()
