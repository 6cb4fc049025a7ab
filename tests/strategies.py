"""Hypothesis strategies shared by the property tests of the exact layer."""

from hypothesis import strategies as st

import alignpro_lite as apl


@st.composite
def instances(
    draw,
    max_x: int = 6,
    max_c: int = 7,
    min_y: int = 1,
    max_y: int = 6,
    concentrations=(0.1, 0.5, 1.0, 5.0),
    scales=(1.0, 10.0, 1e3),
    zero_candidates: bool = True,
):
    """A random tabular problem drawn through a seed (fast, covers sizes and sparsity)."""
    n_x = draw(st.integers(1, max_x))
    n_c = draw(st.integers(1, max_c))
    n_y = draw(st.integers(min_y, max_y))
    seed = draw(st.integers(0, 2**31 - 1))
    conc = draw(st.sampled_from(concentrations))
    scale = draw(st.sampled_from(scales))
    zero = draw(st.sampled_from([0.0, 0.4])) if zero_candidates else 0.0
    return apl.random_problem(
        n_x, n_c, n_y, seed=seed, concentration=conc, reward_scale=scale, zero_candidates=zero
    )
