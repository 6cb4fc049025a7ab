"""Under ``ALIGNPRO_STATIC=1`` (the website of ``make book``) a λ dashboard builds no ipywidgets and
displays its figure, its readout and how to run it live; without it, the live widget."""

from unittest import mock

import IPython.display

import alignpro_lite as apl


def _shown(dashboard) -> list:
    out = []
    with mock.patch.object(IPython.display, "display", lambda *a, **k: out.extend(a)):
        dashboard._ipython_display_()
    return out


def test_static_mode_shows_a_snapshot_and_the_way_to_run_it_live(monkeypatch):
    monkeypatch.setenv("ALIGNPRO_STATIC", "1")
    problem = apl.teaching_problem()
    for dash in (apl.ui.widgets.lam_dashboard(problem, lam=0.1),
                 apl.ui.widgets.bound_dashboard(problem, lam=0.1, beta=0.1)):  # fmt: skip
        assert not hasattr(dash, "widget")
        image, note = _shown(dash)
        assert isinstance(image, IPython.display.Image) and image.data == dash.png
        assert "make lab" in note.data and "λ" in note.data


def test_live_mode_shows_the_widget(monkeypatch):
    monkeypatch.delenv("ALIGNPRO_STATIC", raising=False)
    dash = apl.ui.widgets.lam_dashboard(apl.teaching_problem(), lam=0.1)
    assert _shown(dash) == [dash.widget]
