"""Learning prompters (notebooks 03, 06–07): the one KL-regularised policy-gradient loop
(``train``), tabular prompters on finite problems (``policies``), the generative LoRA prompter
and its environments (``generative``), route (b): the sample bank (``bank``) and the NCA (and
round 1's weighted-MLE) fit of a LoRA policy to ``rho*`` (``distill``) with its per-token KL monitor
(``monitor``), the Bradley–Terry reward model and over-optimisation.

Modules that need torch load on first use (``apl.learn.train``).
"""

from alignpro_lite.config import lazy_package

SUBMODULES = (
    "bank", "distill", "generative", "monitor", "overopt", "policies", "reward_model", "train",
)  # fmt: skip
__all__ = list(SUBMODULES)
__getattr__, __dir__ = lazy_package(__name__, SUBMODULES)
