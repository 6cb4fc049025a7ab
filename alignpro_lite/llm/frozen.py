"""The frozen model's one decoding setting: how ``pi_F`` answers, everywhere.

Align-Pro's frozen model is a *distribution* ``pi_F(y | x')``, and its decoding (temperature,
nucleus ``top_p``, token budget) is part of that distribution. A table estimated with one
setting and a training run or an evaluation that samples with another would be about two
different frozen models, so every place that samples ``pi_F``'s answers uses
:data:`PI_F_DECODING`: the shipped tables (``alignpro-lite estimate``, recorded in each table's
``meta["sampling"]``), training (``RunConfig``'s ``answer_*`` defaults) and the evaluation.
The trained policies (a prompter, an RLHF policy) have their own ``temperature``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

__all__ = ["PI_F_DECODING", "Decoding"]


@dataclass(frozen=True)
class Decoding:
    """A decoding setting: ``y_t ~ softmax(logits / temperature)`` restricted to the nucleus
    ``top_p``, at most ``max_new_tokens`` tokens."""

    temperature: float
    top_p: float
    max_new_tokens: int

    def kwargs(self) -> dict:
        """``{"max_new_tokens", "temperature", "top_p"}`` for :func:`alignpro_lite.llm.lm.sample_ids`."""
        return asdict(self)


PI_F_DECODING = Decoding(temperature=0.7, top_p=1.0, max_new_tokens=32)
