"""Shared fixtures: the embedded SmolLM2 is loaded once for the whole test session."""

import pytest
from hypothesis import settings

# Property tests draw the same examples on every run (no example database): a fresh clone
# passes or fails the same way every time. A test's own @settings only adds to this.
settings.register_profile("alignpro", derandomize=True, database=None, deadline=None)
settings.load_profile("alignpro")

OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


@pytest.fixture(scope="session")
def smol():
    """The embedded SmolLM2, loaded once per session (builds the cache the first time, ~35 s)."""
    from alignpro_lite.llm.lm import load_causal_lm

    mp = pytest.MonkeyPatch()
    for k, v in OFFLINE.items():
        mp.setenv(k, v)
    model, tok = load_causal_lm(device="cpu")
    yield model, tok
    mp.undo()


@pytest.fixture(scope="session")
def tiny_path(tmp_path_factory):
    """A tiny random causal LM (SmolLM2's tokenizer) for fast loop-mechanics tests, built once."""
    from tiny_model import tiny_causal_lm

    return tiny_causal_lm(tmp_path_factory.mktemp("tiny") / "lm")
