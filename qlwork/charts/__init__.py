"""Matplotlib figures used by the notebooks, the reports and the chat widget.

Every function builds a :class:`matplotlib.figure.Figure` directly (no ``pyplot``, so it is safe under
the Agg backend, in threads and in kernels, and nothing is left registered in a global figure
manager), with labelled axes, INR / percent tick formatting, a fixed size and dpi, an opaque light
background with dark text in light and dark pages alike, and - when the data is synthetic - one
"SYNTHETIC DATA" line under the title.

Output is reproducible: :func:`to_png` / :func:`to_svg` strip the creation date and software
metadata and fix the SVG hash salt, so the same inputs give the same bytes.

Inputs are plain Python (lists, dicts) or NumPy / pandas; dates may be ISO strings, ``date`` objects or
a ``DatetimeIndex``. Weights and returns are fractions (0.05 = 5%).
"""

from __future__ import annotations

from .figures import (allocation_figure, equity_drawdown_figure, indicator_figure, rebased_figure,
                      sector_figure)
from .output import (answer_figures, answer_images, figure_from_tool_output, figure_html, image, stored_png, to_png,
                     to_svg, tool_output_images, VectorImage)
from .style import SYNTHETIC_LABEL, inr

__all__ = [
    "allocation_figure", "sector_figure", "equity_drawdown_figure", "indicator_figure",
    "figure_from_tool_output", "rebased_figure", "to_png", "to_svg", "figure_html", "image", "inr",
    "VectorImage", "answer_figures", "answer_images", "tool_output_images", "stored_png", "SYNTHETIC_LABEL",
]
