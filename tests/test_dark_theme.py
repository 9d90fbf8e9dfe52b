"""Charts in JupyterLab's dark themes: the review's and the chat widget's stylesheet show the light chart
card inverted (a dark chart, hues kept) instead of a white box; light pages are left alone."""

from __future__ import annotations

import base64

import pytest

from qlwork.charts import VectorImage, sector_figure
from qlwork.charts.style import DARK_CHART_CSS
from qlwork.review.render import STYLE


def _page(light: bool, svg: str) -> str:
    src = "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()
    return (f'<html><head>{STYLE}</head><body data-jp-theme-light="{str(light).lower()}" style="background:#111">'
            f'<div class="jp-RenderedSVG"><img id="chart" src="{src}"></div>'
            f'<img id="widget" class="qlwork-chart" src="{src}"></body></html>')


def test_dark_theme_shows_charts_dark_and_light_theme_unchanged(tmp_path, readable_copy):
    from qlwork.reports.pdf import _browser, chromium_path, close_browser

    if chromium_path() is None:
        pytest.skip("SKIPPED LOUDLY: no Chromium at /usr/bin/chromium: the dark-theme look is untested here")
    assert DARK_CHART_CSS in STYLE
    svg = VectorImage(sector_figure({"IT": 0.6, "Banks": 0.4}, {"IT": 0.2, "Banks": 0.8})).svg
    try:
        context = _browser().new_context(offline=True)
        page = context.new_page()
        for light, expect_dark in ((False, True), (True, False)):
            path = tmp_path / f"{light}.html"
            path.write_text(_page(light, svg), encoding="utf-8")
            page.goto(f"file://{readable_copy(path)}", wait_until="load")  # the browser may run as the sandbox uid
            for element in ("chart", "widget"):
                box = page.locator(f"#{element}").bounding_box()
                shot = page.screenshot(clip={"x": box["x"] + 2, "y": box["y"] + 2, "width": 4, "height": 4})
                from io import BytesIO

                from PIL import Image

                r, g, b = Image.open(BytesIO(shot)).convert("RGB").getpixel((1, 1))  # the card's corner
                assert ((r + g + b) / 3 < 80) == expect_dark, (light, element, (r, g, b))
        context.close()
    finally:
        close_browser()
