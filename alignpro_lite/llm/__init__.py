"""The frozen LLM in the loop (notebook 05): loading and sampling it (``lm``), LoRA adapters
(``lora``), rewards, semantic preservation, the task data, and Monte-Carlo prompt values
``R̂(x, x')`` (``estimate``, ``tables``).

Modules that need torch load on first use (``apl.llm.lm``), so ``import alignpro_lite`` does not.
"""

from alignpro_lite.config import lazy_package

SUBMODULES = (
    "decoding", "estimate", "frozen", "headroom", "judges", "kl", "lm", "lora", "rewards",
    "semantics", "tables", "tasks",
)  # fmt: skip
__all__ = list(SUBMODULES)
__getattr__, __dir__ = lazy_package(__name__, SUBMODULES)
