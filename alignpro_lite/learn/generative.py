"""A *generative* prompter and an RLHF responder as LoRA adapters on ONE shared causal LM.

Align-Pro at language-model scale (notebooks 07–08). One base model ``M`` (the embedded
SmolLM2-135M-Instruct by default, any Hugging Face causal LM otherwise) is held in memory once;
LoRA adapters (``peft``) on its ``q_proj``/``v_proj`` give every role its own weights:

============  ====================================================  ============================
role          distribution                                           weights
============  ====================================================  ============================
prompter      ``rho_θ(x'|x)``: rewrite ``x`` under REWRITE_SYSTEM    adapter ``"prompter"``
reference     ``rho_sft(x'|x)``: the prompter before RL              adapter ``"sft"`` or none
frozen LLM    ``pi_F(y|x')``: answers the rewrite                    adapters disabled
RLHF policy   ``pi_θ(y|x)``: answers ``x`` itself                    adapter ``"rlhf"``
RLHF ref      ``pi_ref(y|x) = pi_F(y|x)``                            adapters disabled
============  ====================================================  ============================

A policy is the temperature-``T`` model, ``rho(a|x) = prod_t softmax(logits_t / T)[a_t]``
(no nucleus cut: ``top_p = 1``), so the samples :func:`alignpro_lite.llm.lm.sample_ids` draws are
exactly from the distribution whose log-probability :func:`token_logprobs` returns; the
REINFORCE estimator and the per-sample KL of :func:`alignpro_lite.learn.train.train` are then exact.
``log rho_sft`` is the same sequence scored with the reference adapter (or with the adapters
disabled when there is no SFT step).

Rewards (both used as ``reward_fn(batch, actions, rng)`` by :func:`~alignpro_lite.learn.train.train`):

* :class:`FrozenLLMEnvironment` (Align-Pro): ``y ~ pi_F(.|x')`` with the adapters disabled, all
  answers of a step in ONE batched ``generate`` call, then
  ``r(x, x') = r(x, y) - mu * (1 - sim(x, x'))``: the task reward scores the answer against the
  ORIGINAL ``x``; the semantic-preservation penalty (:func:`alignpro_lite.llm.semantics.preservation`,
  MiniLM cosine) stops the prompter from changing the question.
* :class:`ResponseEnvironment` (RLHF): ``r(x, y)`` of the policy's own answers.

:func:`sft_prompter` is the optional supervised step that makes ``rho_sft``: a few Adam steps of
``-1/|x'| log rho(x'|x)`` on rewrite pairs from the task files (candidates of kind
``"instruction"``). SmolLM2-135M with the rewrite instruction alone mostly *answers* the message
instead of rewriting it; a short SFT teaches it the rewrite format.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from alignpro_lite.llm.lm import token_logprobs
from alignpro_lite.llm.lora import frozen, is_peft, lora_params, merged, use_adapter

__all__ = [
    "REWRITE_SYSTEM",
    "Actions",
    "sample_distinct",
    "LoRAPolicy",
    "PrompterPolicy",
    "ResponderPolicy",
    "FrozenLLMEnvironment",
    "ResponseEnvironment",
    "rewrite_pairs",
    "sft_prompter",
    "clean_rewrite",
]

REWRITE_SYSTEM = (
    "Rewrite the user's message so that an assistant will answer it helpfully, kindly and "
    "safely. Keep its meaning. Output only the rewritten message."
)
"""The rewrite instruction: the prompter's system prompt (``rho(x'|x)`` conditions on it)."""


def _chat_ids(tok, prompts: Sequence[str], system: str | None) -> list[list[int]]:
    from alignpro_lite.llm.lm import chat_format

    texts = [chat_format(tok, p, system) for p in prompts]
    return tok(texts, add_special_tokens=False)["input_ids"]


def sample_distinct(
    model, tok, prompts: Sequence[str], n: int, seed: int, **kw
) -> list[list[list[int]]]:
    """:func:`alignpro_lite.llm.lm.sample_ids` where REPEATED prompts get independent samples.

    ``sample_ids`` seeds each row from ``(seed, k, text)`` so that a text's sample does not
    depend on its batch; two copies of the same text in one call would therefore get the SAME
    sample (e.g. the frozen model answering two identical rewrites, or a prompt drawn twice in
    a batch), and the leave-one-out baseline would see no variation. Here the ``j``-th copy of
    a text is drawn with ``seed + j``: one batched call per copy level (usually one or two).
    Returns ``out[i][k]`` like ``sample_ids``.
    """
    from alignpro_lite.llm.lm import sample_ids

    prompts = list(prompts)
    seen: dict[str, int] = {}
    level = []
    for x in prompts:
        level.append(seen.get(x, 0))
        seen[x] = level[-1] + 1
    out: list = [None] * len(prompts)
    for j in range(max(level) + 1):
        idx = [i for i, lv in enumerate(level) if lv == j]
        ids = sample_ids(model, tok, [prompts[i] for i in idx], n=n, seed=seed + j, **kw)
        for i, row in zip(idx, ids, strict=True):
            out[i] = row
    return out


# --------------------------------------------------------------------------- policies
@dataclass
class Actions:
    """``B * k`` sampled continuations, prompt-major: exact token ids and their decoded text."""

    ids: list[list[int]]
    texts: list[str]

    def __len__(self) -> int:
        return len(self.texts)


def clean_rewrite(text: str) -> str:
    """The decoded rewrite as the frozen LLM sees it: whitespace stripped, surrounding quotes
    removed (the prompter sometimes quotes its rewrite)."""
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        text = text[1:-1].strip()
    return re.sub(r"\s+\n", "\n", text)


class LoRAPolicy(torch.nn.Module):
    """A LoRA adapter of a shared causal LM as a :class:`alignpro_lite.learn.train.Policy`.

    ``rho_θ(a|x) = prod_t softmax(logits_θ(x, a_<t) / T)[a_t]`` over the continuation ``a`` of
    the chat-formatted prompt ``x`` (with ``system`` as system message). The reference is the
    adapter ``ref_adapter`` or, when ``None``, the base model with adapters disabled.

    Sampling runs with the adapter folded into the base weights (``merge_lora``,
    :func:`~alignpro_lite.llm.lora.merged`; restored exactly afterwards), log-probabilities
    with the adapter as a side branch so gradients reach it.
    Batches are lists of prompt strings; actions are :class:`Actions`. ``parameters()`` and
    ``state_dict()`` hold only this policy's LoRA weights, so checkpoints of
    :func:`~alignpro_lite.learn.train.train` are a few MB.
    """

    def __init__(
        self,
        model,
        tok,
        adapter: str,
        *,
        ref_adapter: str | None = None,
        system: str | None = None,
        max_new_tokens: int = 40,
        temperature: float = 0.7,
        sample_batch_size: int = 64,
        merge_lora: bool = True,
    ) -> None:
        super().__init__()
        if not is_peft(model) or adapter not in model.peft_config:
            raise ValueError(f"the model has no LoRA adapter {adapter!r}; call add_lora first.")
        if ref_adapter is not None and ref_adapter not in model.peft_config:
            raise ValueError(f"the model has no reference adapter {ref_adapter!r}.")
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0 (a sampling policy), got {temperature}.")
        if int(max_new_tokens) != max_new_tokens or max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be an integer >= 1, got {max_new_tokens!r}.")
        self.model = model
        self.tok = tok
        self.adapter = adapter
        self.ref_adapter = ref_adapter
        self.system = system
        self.max_new_tokens = int(max_new_tokens)
        self.temperature = float(temperature)
        self.sample_batch_size = int(sample_batch_size)
        self.merge_lora = bool(merge_lora)  # sample with the adapter folded in (lora.merged)
        self._ids_cache: dict[str, list[int]] = {}
        self._activate()

    # only this adapter's weights are the policy's parameters ------------------------------
    def named_parameters(
        self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True
    ):
        tag = f".{self.adapter}."
        for n, p in super().named_parameters(prefix, recurse, remove_duplicate):
            if tag in n and "lora_" in n:
                yield n, p

    def state_dict(self, *args, **kwargs) -> dict[str, torch.Tensor]:  # noqa: ARG002
        """Only the LoRA matrices of this policy's adapter (no base weights)."""
        return {n: p.detach() for n, p in self.named_parameters()}

    def _activate(self) -> None:
        if self.model.active_adapter != self.adapter:
            self.model.set_adapter(self.adapter)
        for p in self.parameters():
            p.requires_grad_(True)

    @property
    def pad_id(self) -> int:
        t = self.tok
        return t.pad_token_id if t.pad_token_id is not None else t.eos_token_id

    def prompt_ids(self, batch: Sequence[str]) -> list[list[int]]:
        """Token ids of the chat-formatted prompts (cached per text)."""
        missing = [x for x in dict.fromkeys(batch) if x not in self._ids_cache]
        if missing:
            for x, ids in zip(missing, _chat_ids(self.tok, missing, self.system), strict=True):
                self._ids_cache[x] = ids
        return [self._ids_cache[x] for x in batch]

    def decode(self, ids: list[list[int]]) -> list[str]:
        return [t.strip() for t in self.tok.batch_decode(ids, skip_special_tokens=True)]

    # the Policy protocol ------------------------------------------------------------------
    def sample(self, batch: list[str], k: int, generator: torch.Generator) -> Actions:
        """``k`` continuations per prompt in ONE batched generate call, ``a ~ rho(.|x)``."""
        self._activate()
        seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device))
        fold = merged(self.model, self.adapter) if self.merge_lora else contextlib.nullcontext()
        with fold:  # the adapter folded into the base weights while sampling (restored exactly)
            ids = sample_distinct(
                self.model,
                self.tok,
                list(batch),
                n=int(k),
                seed=seed,
                system=self.system,
                max_new_tokens=self.max_new_tokens,
                temperature=self.temperature,
                top_p=1.0,
                batch_size=self.sample_batch_size,
                progress=False,
            )
        flat = [row for per_prompt in ids for row in per_prompt]  # prompt-major
        return Actions(ids=flat, texts=self.decode(flat))

    def _logprob(self, batch: list[str], actions: Actions) -> torch.Tensor:
        k = len(actions) // len(batch)
        prompts = [p for p in self.prompt_ids(batch) for _ in range(k)]
        return token_logprobs(
            self.model, prompts, actions.ids, temperature=self.temperature, pad_id=self.pad_id
        )

    def logprob(self, batch: list[str], actions: Actions) -> torch.Tensor:
        """``log rho_θ(a|x)``, ``(B * k,)``, differentiable in this adapter's weights."""
        self._activate()
        return self._logprob(batch, actions)

    def ref_logprob(self, batch: list[str], actions: Actions) -> torch.Tensor:
        """``log rho_ref(a|x)`` (reference adapter, or adapters disabled), ``(B * k,)``."""
        with torch.no_grad(), use_adapter(self.model, self.ref_adapter):
            out = self._logprob(batch, actions)
        self._activate()
        return out

    def exact_kl(self, batch: list[str]) -> None:
        """Unknown for a language model: the loop uses the sample estimate."""
        return None


class PrompterPolicy(LoRAPolicy):
    """Align-Pro's generative prompter ``rho_θ(x'|x)``: rewrites ``x`` under REWRITE_SYSTEM.

    Reference ``rho_sft`` = adapter ``ref_adapter`` (after :func:`sft_prompter`) or the base
    model with adapters disabled (no SFT). Sampled rewrites are cleaned with
    :func:`clean_rewrite` before the frozen LLM sees them.
    """

    def __init__(
        self, model, tok, adapter: str = "prompter", *, system: str = REWRITE_SYSTEM, **kw
    ):
        super().__init__(model, tok, adapter, system=system, **kw)

    def decode(self, ids: list[list[int]]) -> list[str]:
        return [clean_rewrite(t) for t in super().decode(ids)]


class ResponderPolicy(LoRAPolicy):
    """The RLHF baseline ``pi_θ(y|x)``: the LLM itself with a LoRA adapter, KL to its initial
    policy ``pi_ref = pi_F`` (adapters disabled), no system message beyond the template's."""

    def __init__(self, model, tok, adapter: str = "rlhf", **kw):
        kw.setdefault("ref_adapter", None)
        super().__init__(model, tok, adapter, **kw)


# --------------------------------------------------------------------------- environments
RewardLike = Callable[[list[str], list[str]], np.ndarray]


@dataclass
class FrozenLLMEnvironment:
    """Align-Pro's ``reward_fn``: the frozen LLM answers each rewrite, the reward judges the
    answer against the ORIGINAL prompt, minus a semantic-preservation penalty::

        y ~ pi_F(.|x')                       (adapters disabled, one batched generate call)
        r(x, x') = r(x, y) - mu max(0, tau - sim(x, x'))

    ``tau = 1`` (default) is the linear penalty ``mu (1 - sim)``, which pays a bonus for copying
    ``x``; ``tau < 1`` is a hinge: no penalty for any rewrite at least ``tau`` similar to ``x``
    (the replication uses ``tau = 0.6``, :func:`alignpro_lite.learn.bank.hinge_penalty`).
    ``last`` keeps the step's answers and components (``task_reward``, ``preservation``) for
    the metrics CSV. ``similarity(xs, xs')`` defaults to the MiniLM cosine.
    """

    model: object
    tok: object
    reward: RewardLike
    mu: float = 0.5
    tau: float = 1.0
    max_new_tokens: int = 40
    temperature: float = 0.7
    top_p: float = 1.0
    similarity: Callable[[list[str], list[str]], np.ndarray] | None = None
    sample_batch_size: int = 64
    last: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not np.isfinite(self.mu) or self.mu < 0:
            raise ValueError(
                f"mu (preservation penalty weight) must be finite and >= 0, got {self.mu}."
            )

    def answer(self, rewrites: list[str], seed: int) -> list[str]:
        """``y ~ pi_F(.|x')`` for each rewrite (one answer each, independent also for
        identical rewrites: :func:`sample_distinct`)."""
        with torch.no_grad(), frozen(self.model):
            ids = sample_distinct(
                self.model,
                self.tok,
                rewrites,
                n=1,
                seed=seed,
                max_new_tokens=self.max_new_tokens,
                temperature=self.temperature,
                top_p=self.top_p,
                batch_size=self.sample_batch_size,
                progress=False,
            )
        return [
            s.strip() for s in self.tok.batch_decode([r[0] for r in ids], skip_special_tokens=True)
        ]

    def __call__(self, batch: list[str], actions: Actions, rng: np.random.Generator) -> np.ndarray:
        k = len(actions) // len(batch)
        xs = [x for x in batch for _ in range(k)]
        ys = self.answer(actions.texts, seed=int(rng.integers(2**62)))
        r = np.asarray(self.reward(xs, ys), dtype=float)
        if self.mu > 0:
            sim_fn = self.similarity
            if sim_fn is None:
                from alignpro_lite.llm.semantics import preservation as sim_fn
            sim = np.asarray(sim_fn(xs, actions.texts), dtype=float)
        else:
            sim = np.ones(len(xs))
        self.last = {"answers": ys, "task_reward": r, "preservation": sim}
        return r - self.mu * np.maximum(0.0, self.tau - sim)

    def metrics(self, policy=None) -> dict[str, float]:  # noqa: ARG002 - metrics_fn signature
        """``metrics_fn`` for :func:`train`: the step's mean task reward and preservation."""
        if not self.last:
            return {}
        return {
            "task_reward": float(np.mean(self.last["task_reward"])),
            "preservation": float(np.mean(self.last["preservation"])),
        }


@dataclass
class ResponseEnvironment:
    """RLHF's ``reward_fn``: ``r(x, y)`` of the policy's own answers ``y`` to ``x``."""

    reward: RewardLike
    last: dict = field(default_factory=dict)

    def __call__(self, batch: list[str], actions: Actions, rng: np.random.Generator) -> np.ndarray:  # noqa: ARG002
        k = len(actions) // len(batch)
        xs = [x for x in batch for _ in range(k)]
        r = np.asarray(self.reward(xs, actions.texts), dtype=float)
        self.last = {"task_reward": r}
        return r

    def metrics(self, policy=None) -> dict[str, float]:  # noqa: ARG002
        return {"task_reward": float(np.mean(self.last["task_reward"]))} if self.last else {}


# --------------------------------------------------------------------------- SFT (rho_sft)
def rewrite_pairs(
    tasks: Sequence[str], split: str = "train", kinds=("instruction",)
) -> list[tuple[str, str]]:
    """``(x, x')`` rewrite pairs from the task files: every candidate of the given ``kinds``."""
    from alignpro_lite.llm.tasks import load_task

    pairs = []
    for task in tasks:
        for p in load_task(task, split):
            pairs += [(p.prompt, c.text) for c in p.candidates if c.kind in kinds]
    if not pairs:
        raise ValueError(f"no rewrite pairs of kinds {kinds} in {list(tasks)} ({split}).")
    return pairs


def sft_prompter(
    model,
    tok,
    pairs: Sequence[tuple[str, str]],
    *,
    adapter: str = "sft",
    system: str = REWRITE_SYSTEM,
    steps: int = 24,
    batch_size: int = 8,
    lr: float = 2e-3,
    seed: int = 0,
    progress: bool = True,
) -> pd.DataFrame:
    """Supervised fine-tuning of adapter ``adapter`` on rewrite pairs: the reference ``rho_sft``.

    Minimises the mean per-token negative log-likelihood of ``x'`` (EOS included) given the
    chat-formatted ``x`` under ``system``, ``-1/|x'| log rho(x'|x)`` at temperature 1, with
    Adam over ``steps`` minibatches of ``batch_size`` pairs drawn without replacement
    (reshuffled each epoch). The adapter must exist (:func:`add_lora`); it is left active.

    Returns:
        The loss curve: one row per step (``step``, ``loss``, ``tokens``).
    """
    if not pairs:
        raise ValueError("pairs is empty: give (x, x') rewrite pairs for the SFT step.")
    if int(steps) != steps or steps < 1 or int(batch_size) != batch_size or batch_size < 1:
        raise ValueError(
            f"steps and batch_size must be integers >= 1, got {steps!r}, {batch_size!r}."
        )
    if adapter not in getattr(model, "peft_config", {}):
        raise ValueError(f"the model has no LoRA adapter {adapter!r}; call add_lora first.")
    model.set_adapter(adapter)
    params = [p for n, p in lora_params(model, adapter).items()]
    for p in params:
        p.requires_grad_(True)
    opt = torch.optim.Adam(params, lr=lr)
    rng = np.random.default_rng(seed)
    eos = tok.eos_token_id
    pad = tok.pad_token_id if tok.pad_token_id is not None else eos
    xs = [x for x, _ in pairs]
    p_ids = _chat_ids(tok, xs, system)
    c_ids = [
        ids + [eos] for ids in tok([c for _, c in pairs], add_special_tokens=False)["input_ids"]
    ]
    limit = getattr(getattr(model, "config", None), "max_position_embeddings", None)
    for i, (p, c) in enumerate(zip(p_ids, c_ids, strict=True)):
        if isinstance(limit, int) and len(p) + len(c) > limit:  # refused before any step
            raise ValueError(
                f"rewrite pair {i} ({xs[i][:40]!r}…) is {len(p) + len(c)} tokens long, prompt and "
                f"rewrite together; the model's context is {limit} tokens. Shorten it (about 4 "
                "characters per token)."
            )
    order: list[int] = []
    rows = []
    for step in tqdm(range(1, int(steps) + 1), desc="SFT rho_sft", disable=not progress):
        if len(order) < batch_size:
            order += list(rng.permutation(len(pairs)))
        idx, order = order[:batch_size], order[batch_size:]
        P, C = [p_ids[i] for i in idx], [c_ids[i] for i in idx]
        n_tok = torch.tensor([len(c) for c in C], dtype=torch.float32)
        lp = token_logprobs(model, P, C, temperature=1.0, pad_id=pad)  # (B,)
        loss = -(lp / n_tok.to(lp.device)).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        rows.append({"step": step, "loss": float(loss.detach()), "tokens": int(n_tok.sum())})
    return pd.DataFrame(rows)
