"""The weekly portfolio review behind ``notebooks/portfolio_review.ipynb``.

:func:`run_review` runs one user's review through the assistant on the user's thread for that ISO
week (created by the week's first run; a re-run appends a new run to it), linked to the user's
previous week's review thread (thread metadata ``kind="weekly_review"``, ``week``,
``previous_thread_id``), and gathers what the report shows: the ``analyze_portfolio``
output, the structured answer, the tool calls, chart series and the change since last week. A short
summary of each review is stored in its thread's metadata (``review``) so next week can compare.

The notebook cells are one-liners over the returned :class:`Review` (``review.header()``,
``review.holdings()``, ...); :meth:`Review.emit` writes the result as the custom MIME output
:data:`REVIEW_MIME` that the batch reads back. :meth:`Review.summary` is deterministic (no ids, no
clock), so the same inputs give the same output; ids and clock values are "volatile" and appear only
in output metadata and in HTML spans with class :data:`~qlwork.review.render.VOLATILE_CLASS`.

No secret is ever a parameter: ``api_key_env`` names the environment variable holding the key.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from .. import __version__
from ..assistant.render import tool_calls as flatten_calls
from ..assistant.store import Store
from ..config import BENCHMARK
from ..errors import InputError, QlworkError
from ..market.as_of import check_as_of, today_in_india
from .series import ReviewSeries, cash_like, period_returns, return_series, review_series, sector_exposure
from .weeks import REVIEW_KIND, as_date, compare, find_previous_review, find_week_thread, iso_week

REVIEW_MIME = "application/vnd.qlwork.review+json"
TEARSHEET_DAYS = 756
"""Trading days of the tearsheet (three years); the report's period returns come from the same series."""
QUESTION = ("Weekly review of my portfolio as of {as_of} for a {risk_profile} investor with a {horizon} "
            "horizon: health, allocation and recommendations.")
# Last week's figures for the assistant. Worded so the offline engine reads a portfolio review, not a
# "compare with the earlier analysis in this thread" request: this week's thread is reused by re-runs,
# so that earlier analysis would be this week's previous run and re-runs would differ. The report's
# week-on-week change is computed from last week's stored snapshot (Review.change).
PREVIOUS_NOTE = (" For context, the previous weekly review (as of {prev_as_of}, thread {prev_thread}) scored "
                 "{prev_score}/10 at level {prev_risk}.")


def _market(provider: Any, user_id: str | None = None):
    """The market provider for ``user_id`` (Kite reads that user's own token, never another's); a
    provider object is used as is."""
    from ..market import resolve_provider

    return resolve_provider(provider, user_id)


def _portfolio(source: Any, market: Any, user_id: str | None = None) -> Any:
    """``"kite"`` means the user's Kite holdings (read-only) via ``market.portfolio()``, which counts T1
    shares, skips zero positions and handles a zero average price; anything else goes to the tools as is."""
    if isinstance(source, str) and source.strip().lower() == "kite":
        if not callable(getattr(market, "portfolio", None)):
            login = f"qlwork kite login --user {user_id}" if user_id else "qlwork kite login"
            raise InputError('portfolio "kite" needs provider "kite" with a Kite login.',
                             fix=f'Use provider="kite" after `{login}`, or a portfolio file.')
        return market.portfolio(name="kite")
    return source


def effective_preferences(user_id: str, backend: str, model: str | None = None, base_url: str | None = None,
                          api_key_env: str | None = None, timeout: float | None = None,
                          max_retries: int | None = None):
    """The user's saved AI preferences with the report's settings applied (what the review's backend
    is built from; env var names, never keys). Raises InputError/ValueError on invalid settings."""
    from ..assistant.preferences import load_preferences

    prefs = load_preferences(user_id).model_copy(update={"preferred_ai_provider": backend})
    changes = {k: v for k, v in {"model": model, "base_url": base_url, "api_key_env": api_key_env}.items() if v}
    changes.update({k: v for k, v in {"timeout": timeout, "max_retries": max_retries}.items() if v is not None})
    return type(prefs).model_validate({**prefs.model_dump(), **changes})


def _backend(user_id: str, backend: str, model: str | None, base_url: str | None, api_key_env: str | None,
             timeout: float | None = None, max_retries: int | None = None):
    if backend == "offline":
        return "offline"
    from ..assistant.preferences import backend_from_preferences

    return backend_from_preferences(effective_preferences(user_id, backend, model, base_url, api_key_env,
                                                          timeout=timeout, max_retries=max_retries))


@dataclass
class Review:
    """One user's weekly review; see the module docstring."""

    params: dict
    week: str
    analysis: dict
    response: dict
    calls: list[dict]
    series: ReviewSeries
    benchmark_sectors: dict
    previous: dict | None
    thread_id: str
    run_id: str
    model: str | None
    generated_at: str
    direct_analysis: bool = False
    volatile: dict = field(default_factory=dict)
    benchmark_weights: dict = field(default_factory=dict)
    """``{symbol: fraction}`` of every benchmark constituent (sum ~1; a holding missing here has
    weight 0), or ``{}`` when the provider has no constituent weights (the allocation chart then says so)."""
    report_calls: list = field(default_factory=list)
    """Tool calls the report made itself (the tearsheet): ``{name, arguments, output, error,
    duration_ms}``, listed in the audit trail; the tearsheet figures are drawn from their output."""
    sectors: list = field(default_factory=list)
    """Sector rows ``{sector, portfolio, benchmark, active}`` on one basis, the whole portfolio and the whole
    benchmark (:func:`~qlwork.review.series.sector_exposure`): the sector table and chart both show them."""
    returns: dict = field(default_factory=dict)
    """1W/1M/YTD/1Y returns of the holdings vs the benchmark (:func:`~qlwork.review.series.period_returns`;
    1Y is the analysis window of ``lookback_days`` trading days, the same as the equity curve's)."""

    # -- data ------------------------------------------------------------------------------------
    @property
    def synthetic(self) -> bool:
        return bool((self.analysis.get("data_source") or {}).get("synthetic"))

    def snapshot(self) -> dict:
        """What next week's review compares against (stored in the thread metadata)."""
        a, r = self.analysis, self.response
        return {"as_of": self.params["as_of"], "overall_score": r.get("overall_score", a.get("overall_score")),
                "risk_level": r.get("risk_level", a.get("risk_level")), "total_value": a.get("total_value"),
                "total_pnl": a.get("total_pnl"), "risk_metrics": dict(a.get("risk_metrics") or {}),
                "weights": {h["symbol"]: h["weight"] for h in a.get("holdings", [])},
                "recommendations": [[x.get("action"), x.get("symbol")] for x in r.get("recommendations") or []]}

    def change(self) -> dict | None:
        """Differences from the previous week's review, or None when there is none."""
        return compare(self.previous["review"], self.snapshot(), self.previous) if self.previous else None

    def summary(self) -> dict:
        """The deterministic review result emitted as :data:`REVIEW_MIME` (no ids, no clock)."""
        from .render import audit_rows

        r = self.response
        return {"schema": 1, "status": "ok", "user_id": self.params["user_id"], "as_of": self.params["as_of"],
                "week": self.week, "qlwork_version": __version__, "parameters": self.params,
                "data_source": self.analysis.get("data_source"), "synthetic": self.synthetic,
                "analysis_type": r.get("analysis_type"), "overall_score": r.get("overall_score"),
                "risk_level": r.get("risk_level"), "risk_metrics": r.get("risk_metrics") or {},
                "total_value": self.analysis.get("total_value"), "total_pnl": self.analysis.get("total_pnl"),
                "recommendations": r.get("recommendations") or [], "insights": r.get("insights") or [],
                "series": self.series.summary(), "returns": self.returns, "sectors": self.sectors,
                "holdings": self.analysis.get("holdings") or [], "tearsheet_metrics": next(
                    ((c.get("output") or {}).get("metrics") or {} for c in self.report_calls
                     if c["name"] == "portfolio_tearsheet"), {}),
                "audit": audit_rows(self.calls, self.report_calls), "has_previous": self.previous is not None,
                "change": self.change(), "tools_used": [c["name"] for c in self.calls]}

    def volatile_metadata(self) -> dict:
        """Run-specific values (ids, clock) kept out of :meth:`summary`."""
        return {"thread_id": self.thread_id, "run_id": self.run_id, "generated_at": self.generated_at,
                "previous_thread_id": (self.previous or {}).get("thread_id"), **self.volatile}

    # -- display (one call per notebook cell) ----------------------------------------------------
    def _html(self, name: str):
        from IPython.display import HTML

        from . import executive, render as review_render

        return HTML((getattr(executive, name, None) or getattr(review_render, name))(self))

    def header(self):
        """Title, the synthetic-data notice and the executive summary (the report's first page)."""
        return self._html("header_html")

    def holdings(self):
        return self._html("holdings_html")

    def assessment(self):
        return self._html("assessment_html")

    def recommendations(self):
        return self._html("recommendations_html")

    def insights(self):
        return self._html("insights_html")

    def changes(self):
        return self._html("change_html")

    def appendix(self):
        """Run details (thread, run, version, times in IST) and the audit trail of tool calls."""
        return self._html("appendix_html")

    def disclaimer(self):
        return self._html("disclaimer_html")

    def chart(self, name: str):
        """``"allocation"``, ``"sectors"`` or ``"equity"`` as an SVG image output."""
        from . import render as review_render
        from ..charts import VectorImage

        return VectorImage(review_render.figure(self, name), alt=f"Chart: {name}")

    def indicator_charts(self) -> None:
        """Display price + RSI + MACD panels for the largest holdings (one SVG image each)."""
        from IPython.display import display

        from . import render as review_render

        for panel in self.series.indicators:
            display(review_render.indicator_image(self, panel))

    def tearsheet(self) -> None:
        """Display the tearsheet: its heading and four SVG figures from the ``portfolio_tearsheet`` output."""
        from IPython.display import HTML, display

        from . import tearsheet_html as sheet
        from ..charts import VectorImage

        display(HTML(sheet.tearsheet_html(self)))
        for name, fig in sheet.tearsheet_figures(self):
            display(VectorImage(fig, alt=f"Chart: {name}"))

    def emit(self) -> None:
        """Display the result as :data:`REVIEW_MIME` (ids and clock in the output metadata)."""
        emit_result(self.summary(), self.volatile_metadata())


def emit_result(summary: dict, volatile: dict | None = None) -> None:
    """Display a review result bundle the batch reads back from the executed notebook."""
    from IPython.display import display

    text = (f"qlwork review {summary.get('user_id')} {summary.get('as_of')}: {summary.get('status')}, "
            f"score {summary.get('overall_score')}, risk {summary.get('risk_level')}")
    # text/plain for logs and plain frontends; an empty text/html so the rendered report does not end with
    # this machine-facing line (nbconvert shows the richest format it knows)
    display({REVIEW_MIME: summary, "text/html": "", "text/plain": text}, metadata={REVIEW_MIME: volatile or {}},
            raw=True)


def _constituents(market: Any, benchmark: str) -> dict:
    """``{symbol: weight}`` of the benchmark's constituents when the provider knows them, else ``{}``."""
    weights = getattr(market, "benchmark_weights", None)
    if not callable(weights):
        return {}
    try:
        return weights() if benchmark == BENCHMARK else weights(benchmark)
    except (InputError, TypeError):  # a provider with NIFTY 50's weights only
        return {}


def _report_call(name: str, arguments: dict, ctx) -> dict:
    """Invoke one of the report's own tools (:data:`qlwork.review.tearsheet.REPORT_TOOLS`); a failure
    is recorded (and shown) instead of failing the whole review."""
    import time

    from .tearsheet import REPORT_TOOLS

    t = time.perf_counter()
    try:
        output, error = REPORT_TOOLS.get(name).invoke(arguments, ctx), None
    except QlworkError as exc:
        output, error = None, str(exc)
    return {"name": name, "arguments": arguments, "output": output, "error": error,
            "duration_ms": round((time.perf_counter() - t) * 1e3, 1)}


def run_review(user_id: str, as_of, portfolio: Any = "sample:diversified", risk_profile: str = "moderate",
               horizon: str = "medium", benchmark: str = BENCHMARK, provider: Any = "demo",
               backend: str = "offline", model: str | None = None, base_url: str | None = None,
               api_key_env: str | None = None, store: Store | None = None, lookback_days: int = 252,
               top_n: int = 3, now: dt.datetime | None = None, timeout: float | None = None,
               max_retries: int | None = None) -> Review:
    """Run ``user_id``'s weekly review as of ``as_of`` and return the :class:`Review`.

    Uses the user's thread for this ISO week (a new one, linked to the previous week's review thread,
    on the week's first run; re-runs append a run to it), asks the assistant (``backend``: offline |
    openai | openai-chat; keys from the env var ``api_key_env`` names, never passed here; ``timeout``
    and ``max_retries``, notebook parameters in the batch, default to the saved preferences), and records a summary in the thread
    metadata. ``provider`` is the market data: ``"demo"``, ``"kite"`` (this user's own Kite login; with
    ``portfolio="kite"`` the review reads their holdings) or a provider object. Raises QlworkError
    subclasses on bad input or a failed run (the run stays in the store for the audit trail).
    """
    from .. import open_session
    from ..market import provider_name
    from ..tools.registry import ToolContext
    from ..tools.recommendations import benchmark_sector_weights
    from ..tools.trading import analyze_portfolio

    day = as_date(as_of)
    week = iso_week(day)
    store = store or Store()
    market = _market(provider, user_id)
    dated = check_as_of(day, market, today=today_in_india(now) if now else None, lookback_days=lookback_days)
    source = _portfolio(portfolio, market, user_id)
    previous = find_previous_review(store, user_id, week)
    current = find_week_thread(store, user_id, week)
    params = {"user_id": user_id, "as_of": day.isoformat(), "portfolio": portfolio if isinstance(portfolio, str)
              else getattr(portfolio, "name", "in-memory"), "risk_profile": risk_profile, "horizon": horizon,
              "benchmark": benchmark, "provider": provider_name(provider), "backend": backend, "model": model}
    if dated.note:  # a weekend or holiday: the figures are the last trading day's, and the report says so
        params.update(prices_as_of=dated.trading_day.isoformat(), as_of_note=dated.note)
    session = open_session(user_id, backend=_backend(user_id, backend, model, base_url, api_key_env, timeout,
                                                     max_retries),
                           portfolio=source, risk_profile=risk_profile, horizon=horizon, as_of=day,
                           market=market, store=store, thread_id=current, new_thread=current is None)
    store.update_thread_metadata(session.thread_id, {
        **(session._metadata() if current else {}),  # a re-run: this run's portfolio, risk profile, horizon
        "kind": REVIEW_KIND, "week": week, "as_of": day.isoformat(), "benchmark": benchmark,
        "previous_thread_id": previous["thread_id"] if previous else None})
    question = QUESTION.format(as_of=day.isoformat(), risk_profile=risk_profile, horizon=horizon)
    if previous:
        prev = previous["review"]
        question += PREVIOUS_NOTE.format(prev_as_of=prev.get("as_of"), prev_thread=previous["thread_id"],
                                         prev_score=prev.get("overall_score"), prev_risk=prev.get("risk_level"))
    answer = session.ask(question)
    calls = flatten_calls([s.model_dump(mode="json") for s in answer.steps])
    if answer.response is None:
        raise InputError(f"The review run {answer.run.id} ended {answer.run.status}: {answer.text}",
                         code="review_incomplete", thread_id=session.thread_id)
    response = answer.response.model_dump(mode="json")
    analysis = next((c["output"] for c in calls if c["name"] == "analyze_portfolio" and not c.get("error")
                     and isinstance(c["output"], dict)), None)
    direct = analysis is None
    if direct:  # the model skipped the tool: the report still needs the holdings table and charts
        ctx = ToolContext(market=market, portfolio=source, as_of=day, risk_profile=risk_profile,
                          user_id=user_id, thread_id=session.thread_id, benchmark=benchmark)
        analysis = analyze_portfolio.tool.invoke({"lookback_days": lookback_days}, ctx)
    quantities = {h["symbol"]: h["quantity"] for h in analysis["holdings"]}
    # one daily return series for the whole report: period returns, the equity curve, the assessment window
    daily = return_series(market, quantities, day, max(TEARSHEET_DAYS, lookback_days), benchmark=benchmark)
    series = review_series(market, quantities, day, lookback_days=lookback_days, top_n=top_n, benchmark=benchmark,
                           returns=daily)
    returns = period_returns(daily, year_days=lookback_days)
    bench_sectors = benchmark_sector_weights(market, benchmark)
    try:  # the instruments dump names liquid ETFs; without it they stay in their sector's row
        instruments = market.instruments() if callable(getattr(market, "instruments", None)) else None
    except QlworkError:
        instruments = None
    sectors = sector_exposure(analysis["holdings"], bench_sectors, cash_like(instruments, quantities))
    # constituent weights: NIFTY 50's, or the provider's for another index when it has them (else "not available")
    bench_weights = _constituents(market, benchmark)
    report_calls = [_report_call("portfolio_tearsheet", {"lookback_days": TEARSHEET_DAYS}, ToolContext(
        market=market, portfolio=source, as_of=day, risk_profile=risk_profile, user_id=user_id,
        thread_id=session.thread_id, benchmark=benchmark))]
    generated = (now or dt.datetime.now(dt.timezone.utc)).astimezone(dt.timezone.utc)
    review = Review(params=params, week=week, analysis=analysis, response=response, calls=calls, series=series,
                    benchmark_sectors={k: round(float(v), 4) for k, v in bench_sectors.items()},
                    previous=previous, thread_id=session.thread_id, run_id=answer.run.id,
                    model=answer.run.model, generated_at=generated.replace(microsecond=0).isoformat(),
                    direct_analysis=direct,
                    benchmark_weights={k: round(float(v), 6) for k, v in sorted(bench_weights.items())},
                    report_calls=report_calls, returns=returns,
                    sectors=[{k: (round(v, 6) if isinstance(v, float) else v) for k, v in r.items()} for r in sectors])
    store.update_thread_metadata(session.thread_id, {"review": review.snapshot()})
    return review
