"""The paper's figure values as shipped: the derived facts the course quotes."""

import pytest

from alignpro_lite.experiment.paper import load_paper_results, paper_cells


def test_the_figure_has_its_36_bars():
    df = load_paper_results()
    assert len(df) == 36 and set(df["method"]) == {"NoFT", "Align-Pro", "RLHF"}
    assert (df["reward_variance"] > 0).all()


def test_derived_facts_quoted_by_the_course():
    c = paper_cells()
    assert c["shape_noft_ap_rlhf"].sum() == 12  # NoFT < Align-Pro < RLHF in 12/12 cells
    assert c["ap_total_var_below_noft"].sum() == 12
    assert c["gap_closed"].median() == pytest.approx(0.73, abs=0.01)
    assert c["gap_closed"].min() == pytest.approx(0.29, abs=0.01)
    assert c["gap_closed"].max() == pytest.approx(0.90, abs=0.01)
