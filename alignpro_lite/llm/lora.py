"""LoRA adapters on one shared causal LM: every role (prompter, reference, RLHF policy) is a
named adapter; the frozen LLM ``pi_F`` is the same model with every adapter disabled::

    model = add_lora(model, "prompter", LoRASpec(r=8))
    with use_adapter(model, "prompter"):   # rho_θ
        ...
    with use_adapter(model, None):         # pi_F: adapters disabled (same as ``frozen(model)``)
        ...
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

import torch

from alignpro_lite.atomic import write_text_atomic

__all__ = [
    "LoRASpec",
    "add_lora",
    "copy_lora",
    "frozen",
    "is_peft",
    "lora_params",
    "merged",
    "sampling",
    "load_lora",
    "save_lora",
    "use_adapter",
]


@dataclass(frozen=True)
class LoRASpec:
    """LoRA hyper-parameters: rank ``r``, scale ``alpha / r``, target modules.

    Dropout is 0 so that ``logprob`` is a deterministic function of the weights (the policy
    gradient and the KL need the same ``log rho`` the samples were drawn from).
    """

    r: int = 8
    alpha: int = 16
    target_modules: tuple[str, ...] = ("q_proj", "v_proj")

    def config(self):
        from peft import LoraConfig

        if int(self.r) != self.r or self.r < 1:
            raise ValueError(f"LoRA rank r must be an integer >= 1, got {self.r!r}.")
        return LoraConfig(
            r=int(self.r),
            lora_alpha=int(self.alpha),
            target_modules=list(self.target_modules),
            lora_dropout=0.0,
            bias="none",
            task_type="CAUSAL_LM",
        )


def is_peft(model) -> bool:
    from peft import PeftModel

    return isinstance(model, PeftModel)


def add_lora(model, name: str, spec: LoRASpec | None = None):
    """Add a fresh LoRA adapter ``name`` (``B = 0``: the model is unchanged) and make it active.

    The first call wraps ``model`` in a ``peft.PeftModel`` (in place: the base weights are
    shared, not copied); use the returned object from then on. An adapter ``name`` that
    already exists is re-initialised (``A`` ~ Kaiming-uniform, ``B = 0``, as peft does), so a
    second run in the same process starts from the same place as the first.
    """
    from peft import get_peft_model

    spec = spec or LoRASpec()
    if not is_peft(model):
        model = get_peft_model(model, spec.config(), adapter_name=name)
    elif name not in model.peft_config:
        model.add_adapter(name, spec.config())
    else:
        with torch.no_grad():
            for n, p in lora_params(model, name).items():
                if "lora_B" in n:
                    p.zero_()
                else:
                    torch.nn.init.kaiming_uniform_(p, a=5**0.5)
    model.set_adapter(name)
    model.eval()
    return model


def lora_params(model, name: str) -> dict[str, torch.nn.Parameter]:
    tag = f".{name}."
    return {n: p for n, p in model.named_parameters() if tag in n and "lora_" in n}


def copy_lora(model, src: str, dst: str) -> None:
    """Copy the weights of adapter ``src`` into adapter ``dst`` (same spec), e.g. SFT -> prompter."""
    src_p = lora_params(model, src)
    dst_p = lora_params(model, dst)
    if not src_p or len(src_p) != len(dst_p):
        raise ValueError(
            f"cannot copy LoRA adapter {src!r} into {dst!r}: shapes differ or missing."
        )
    with torch.no_grad():
        for n, p in src_p.items():
            dst_p[n.replace(f".{src}.", f".{dst}.")].copy_(p)


def save_lora(model, name: str, folder: str | Path) -> Path:
    """Write adapter ``name`` as ``adapter_model.safetensors`` + ``adapter_config.json``.

    Only the LoRA matrices are saved (a few MB), never the base weights.
    """
    from peft import get_peft_model_state_dict
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = get_peft_model_state_dict(model, adapter_name=name)
    save_file(
        {k: v.detach().cpu().contiguous() for k, v in state.items()},
        folder / "adapter_model.safetensors",
    )
    model.peft_config[name].save_pretrained(str(folder))
    write_text_atomic(folder / DIGEST_FILE, digest_text(folder))
    return folder


def digest_text(folder: str | Path) -> str:
    """What ``weights.sha256`` holds: the weights' SHA-256 (:func:`weights_digest`, the digest
    stages record) and the SHA-256 of ``adapter_config.json`` (rank, alpha, target modules)."""
    import hashlib

    config = hashlib.sha256((Path(folder) / "adapter_config.json").read_bytes()).hexdigest()
    return f"{weights_digest(folder)}\nadapter_config.json {config}\n"


DIGEST_FILE = "weights.sha256"
"""Beside a saved adapter's files: the SHA-256 of its weights, checked by :func:`load_lora`."""


def weights_digest(folder: str | Path) -> str:
    """SHA-256 of a saved adapter's weights (its ``adapter_model.*`` files, in name order)."""
    import hashlib

    folder = Path(folder)
    files = sorted(folder.glob("adapter_model.*"))
    if not files:
        raise ValueError(f"{folder} holds no adapter weights (adapter_model.*).")
    h = hashlib.sha256()
    for f in files:
        with open(f, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def verify_weights(folder: str | Path) -> None:
    """``ValueError`` naming ``folder`` when its weights or its ``adapter_config.json`` no longer
    match the digests saved beside them (an edited, truncated or swapped adapter); an adapter
    saved elsewhere or before digests were written (no ``weights.sha256``) is read as it is."""
    folder = Path(folder)
    path = folder / DIGEST_FILE
    if not path.is_file():
        return
    recorded = path.read_text(encoding="utf-8").split("\n")
    if weights_digest(folder) != recorded[0].strip():
        raise ValueError(f"{folder}: the adapter's weights were changed after they were saved "
                         f"(their SHA-256 no longer matches {DIGEST_FILE}); restore it from git "
                         "or refit it.")  # fmt: skip
    if (
        len(recorded) > 1
        and recorded[1].strip()
        and digest_text(folder).split("\n")[1] != recorded[1].strip()
    ):
        raise ValueError(f"{folder}: adapter_config.json was changed after the adapter was saved "
                         f"(its SHA-256 no longer matches {DIGEST_FILE}; rank, alpha or target "
                         "modules scale what the weights do); restore it from git or refit it.")  # fmt: skip


def load_lora(model, folder: str | Path, name: str):
    """Load a saved adapter into ``model`` as ``name`` (wrapping it in peft if needed).

    Returns the ``PeftModel``; the active adapter is left as it was (or ``name`` if it is the
    first one). A folder without ``adapter_config.json`` raises a ``ValueError``.
    """
    from peft import PeftModel

    folder = Path(folder)
    if not (folder / "adapter_config.json").is_file():
        raise ValueError(f"{folder} holds no LoRA adapter (adapter_config.json is missing).")
    verify_weights(folder)
    try:
        if not is_peft(model):
            model = PeftModel.from_pretrained(model, str(folder), adapter_name=name)
        else:
            active = model.active_adapter
            if name in model.peft_config:
                model.delete_adapter(name)
            model.load_adapter(str(folder), adapter_name=name)
            if active in model.peft_config:
                model.set_adapter(active)
    except Exception as err:  # noqa: BLE001 (truncated or foreign files: SafetensorError, OSError, …)
        if type(err).__name__ == "OutOfMemoryError":
            raise
        raise ValueError(f"{folder}: the LoRA adapter cannot be read ({type(err).__name__}: "
                         f"{err}); restore it from git or refit it.") from None  # fmt: skip
    model.eval()
    return model


@contextlib.contextmanager
def frozen(model):
    """Inside the block the model is the frozen LLM ``pi_F``: every LoRA adapter disabled."""
    if is_peft(model):
        with model.disable_adapter():
            yield model
    else:
        yield model


@contextlib.contextmanager
def use_adapter(model, name: str | None):
    """Run the block with adapter ``name`` active (``None``: every adapter disabled, i.e. the
    frozen LLM ``pi_F``), then restore the previously active adapter."""
    if name is None:
        with frozen(model):
            yield
        return
    previous = model.active_adapter
    model.set_adapter(name)
    try:
        yield
    finally:
        model.set_adapter(previous)


@contextlib.contextmanager
def sampling(model, name: str | None):
    """Sample as adapter ``name`` (``None``: the frozen LLM): :func:`merged` for an adapter, so a
    decode step runs the plain model; :func:`use_adapter` ``(model, None)`` otherwise."""
    ctx = use_adapter(model, None) if name is None else merged(model, name)
    with ctx:
        yield model


@contextlib.contextmanager
def merged(model, name: str):
    """Sample with adapter ``name`` folded into the base weights, ``W + s·BA``, inside the block.

    A decode step then runs the plain model: no LoRA side products per layer (≈ 8 % of a
    sampling step with r = 8 on q/v, measured on 2 CPU cores; for float32 weights: in bf16 a small
    ``s·BA`` would round away). Afterwards the base weights are
    restored EXACTLY (the saved tensors are copied back: ``W + s·BA − s·BA`` is not ``W`` in
    float arithmetic, and the frozen model ``pi_F`` must stay bit for bit the same). For
    sampling only: no gradients flow through the merged weights.
    """
    if not is_peft(model) or name not in model.peft_config:
        raise ValueError(f"the model has no LoRA adapter {name!r} to merge.")
    from peft.tuners.lora import LoraLayer

    layers = [m for m in model.modules() if isinstance(m, LoraLayer) and name in m.lora_A]
    saved = [m.get_base_layer().weight.detach().clone() for m in layers]
    with use_adapter(model, name), torch.no_grad():
        try:  # an interrupted merge is undone by the restore below as well
            model.merge_adapter(adapter_names=[name])
            yield model
        finally:
            model.unmerge_adapter()
            for m, w in zip(layers, saved, strict=True):
                m.get_base_layer().weight.copy_(w)
