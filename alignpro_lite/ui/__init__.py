"""Figures and dashboards beside the layers: ``plots`` (every matplotlib figure, one style) and
``widgets`` (the ipywidgets λ dashboards over those pure functions)."""

from alignpro_lite.ui import plots, widgets

__all__ = ["plots", "widgets"]
