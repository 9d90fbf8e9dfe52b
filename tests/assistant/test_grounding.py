"""Grounding at run time: the real openai SDK (openai-chat backend) against the scripted model server,
the real trading tools on the demo market, a real SQLite store. A model that invents figures is
corrected (repair), marked (flag) or refused (reject); a grounded model passes with no extra call."""

from __future__ import annotations

import json

import pytest

from qlwork.assistant.backends.transcript import REPAIR_PREFIX
from qlwork.assistant.grounding import Grounding, check, describe, untraceable_figures
from qlwork.assistant.render import audit_markdown
from qlwork.assistant.response import RUNNER_FIELDS, TradingResponse
from qlwork.assistant.session import Session
from qlwork.config import load_settings
from qlwork.errors import InputError, ModelBehaviorError
from qlwork.market import get_provider
from qlwork.widget.render import answer_html

from .conftest import model_backend

MARK = '<mark class="qlwork-untraced"'


@pytest.fixture(scope="module")
def market():
    return get_provider("demo")


def session_on(store, server, market, policy: str | None = None, **options) -> Session:
    """A session on the openai-chat backend pointed at ``server``; ``policy`` goes in the assistant's metadata."""
    session = Session("u1", backend=model_backend("openai-chat", server, **options), store=store, market=market,
                      portfolio="sample:diversified", new_thread=True)
    if policy is not None:
        store.update_assistant(session.assistant_id, metadata={"grounding": policy})
    return session


def all_outputs(store, thread_id: str) -> list:
    return [c.function.output for _, c in store.completed_tool_calls(thread_id)]


def test_default_policy_repairs_a_hallucinating_model(store, fm, planted_key, market, monkeypatch):
    monkeypatch.delenv("QLWORK_GROUNDING")  # the shipped default: repair
    with fm.FakeModel(policy=fm.hallucinating_model()) as server:
        answer = session_on(store, server, market).ask("Analyze my portfolio")
        bodies = server.bodies("/chat/completions")
    assert len(bodies) == 3  # tool calls, the invented answer, the corrected answer
    correction = bodies[-1]["messages"][-1]
    assert correction["role"] == "user" and correction["content"].startswith(REPAIR_PREFIX)
    assert "insights[" in correction["content"] and ": 42.42%" in correction["content"]
    assert f"overall_score: {fm.INVENTED_SCORE}" in correction["content"]
    assert "42.42%" in bodies[-1]["messages"][-2]["content"]  # the rejected answer, shown to the model
    data = answer.message.data
    g = answer.response.grounding
    assert g.status == "repaired" and g.corrected and g.untraceable == [] and g.checked > 5 and g.traced == g.checked
    assert data["overall_score"] != fm.INVENTED_SCORE and fm.INVENTED_INSIGHT not in data["insights"]
    assert untraceable_figures(data, all_outputs(store, answer.run.thread_id)) == []  # checked independently
    assert answer.run.grounding["status"] == "repaired"
    assert {k: v for k, v in answer.message.metadata.items() if k.startswith("grounding")} == {
        "grounding": f"{g.checked} of {g.checked} figures traced to tool outputs", "grounding_status": "repaired"}
    assert answer.message.metadata["advice_status"] == "sound"  # the advice check is recorded beside it
    page = answer_html(answer.response)
    assert f"{g.checked} of {g.checked} figures traced to tool outputs, after one correction turn" in page
    assert MARK not in page
    shown = audit_markdown(store.audit(answer.run.thread_id))
    assert f"Grounding: {g.checked} of {g.checked} figures traced to tool outputs, after one correction turn." in shown


def test_flag_policy_marks_the_figures_without_an_extra_call(fm, planted_key, market, capsys):
    from types import SimpleNamespace

    from qlwork.assistant.store import Store
    from qlwork.cli.commands import main
    from qlwork.review.render import audit_html

    store = Store()  # $QLWORK_HOME/qlwork.db, where `qlwork threads show` looks
    with fm.FakeModel(policy=fm.hallucinating_model()) as server:
        answer = session_on(store, server, market, policy="flag").ask("Analyze my portfolio")
        assert len(server.requests) == 2
    store.close()
    g = answer.response.grounding
    insight = answer.response.insights.index(fm.INVENTED_INSIGHT)
    assert g.status == "flagged" and not g.corrected
    assert [(u.where, u.figure) for u in g.untraceable] == [("overall_score", str(fm.INVENTED_SCORE)),
                                                            (f"insights[{insight}]", "42.42%")]
    assert g.traced == g.checked - 2 and g.summary == f"{g.checked - 2} of {g.checked} figures traced to tool outputs"
    assert answer.response.overall_score == fm.INVENTED_SCORE  # shown, but marked
    assert describe(g) in answer.text.splitlines()  # the plain-text answer (qlwork chat) carries the line
    meta = answer.message.metadata
    assert meta["grounding_status"] == "flagged" and "42.42%" in meta["grounding_untraceable"]
    page = answer_html(answer.response)
    assert page.count(MARK) == 2 and f'{MARK}' in page.split("42.42%")[0][-300:]
    assert "⚠ Grounding: " in page and "(flagged)" in page
    assert main(["threads", "show", answer.run.thread_id]) == 0
    shown = capsys.readouterr().out
    assert f"{g.checked - 2} of {g.checked} figures traced to tool outputs (flagged); not traced: overall_score " \
           f"{fm.INVENTED_SCORE}, insights[{insight}] 42.42%." in shown
    review = SimpleNamespace(calls=[], report_calls=[], direct_analysis=False, run_id=answer.run.id, thread_id=answer.run.thread_id,
                             params={"backend": "openai-chat"}, model="fake-model", response=answer.message.data)
    report = audit_html(review)  # the weekly report's audit trail
    assert f"Grounding: {g.checked - 2} of {g.checked} figures traced to tool outputs (flagged)" in report
    assert "Every figure in the answer comes from these tool outputs" not in report


def test_reject_policy_fails_the_run_clearly(store, fm, planted_key, market):
    with fm.FakeModel(policy=fm.hallucinating_model(stubborn=True)) as server:
        session = session_on(store, server, market, policy="reject")
        with pytest.raises(ModelBehaviorError) as info:
            session.ask("Analyze my portfolio")
        assert len(server.requests) == 3  # one correction turn was tried
    run = store.get_run(info.value.details["run_id"])
    assert run.status == "failed" and run.last_error.code == "ungrounded_answer"
    assert "42.42%" in run.last_error.message and "overall_score" in run.last_error.message
    assert "repair" in run.last_error.message and "flag" in run.last_error.message  # names the way out
    assert [m.role for m in store.list_messages(run.thread_id)] == ["user"]  # nothing ungrounded was shown
    assert run.grounding["status"] == "flagged" and run.grounding["corrected"] is True
    shown = audit_markdown(store.audit(run.thread_id))
    assert "ungrounded_answer" in shown and "not traced: overall_score 9.87" in shown


def test_grounded_model_passes_unchanged_with_no_extra_call(store, fm, planted_key, market, monkeypatch):
    monkeypatch.setenv("QLWORK_GROUNDING", "repair")
    replies = []

    def recording(body, path):
        replies.append(fm.rule_model(body, path))
        return replies[-1]

    with fm.FakeModel(policy=recording) as server:
        answer = session_on(store, server, market).ask("Analyze my portfolio")
        assert len(server.requests) == 2
    g = answer.response.grounding
    assert g.status == "grounded" and not g.corrected and g.untraceable == [] and g.checked >= 10
    runner_fields = set(RUNNER_FIELDS)
    sent = TradingResponse.model_validate(json.loads(replies[-1].text)).model_dump(mode="json", exclude=runner_fields)
    assert {k: v for k, v in answer.message.data.items() if k not in runner_fields} == sent


def test_recommendation_against_the_tools_is_corrected(store, fm, planted_key, market, monkeypatch):
    monkeypatch.setenv("QLWORK_GROUNDING", "repair")
    bad = {"analysis_type": "portfolio_health", "insights": ["Looks fine."],
           "recommendations": [{"action": "buy", "symbol": "MADEUPCO", "reason": "A hunch", "confidence": 0,
                                "timeframe": "1 week"}]}
    good = {**bad, "recommendations": []}
    with fm.FakeModel(fm.calls(("analyze_portfolio", {})), fm.text(bad), fm.text(good)) as server:
        answer = session_on(store, server, market).ask("Analyze my portfolio")
        correction = server.bodies()[-1]["messages"][-1]["content"]
    assert "buy MADEUPCO: symbol not in any tool output" in correction
    assert answer.response.recommendations == [] and answer.response.grounding.status == "repaired"


def test_no_correction_when_no_turn_is_left(store, fm, planted_key, market, monkeypatch):
    monkeypatch.setenv("QLWORK_GROUNDING", "repair")
    with fm.FakeModel(policy=fm.hallucinating_model()) as server:
        session = session_on(store, server, market)
        session._max_turns = 2
        answer = session.ask("Analyze my portfolio")
        assert len(server.requests) == 2
    assert answer.run.status == "completed" and answer.response.grounding.status == "flagged"


def test_a_model_cannot_vouch_for_its_own_figures(store, fm, planted_key, market):
    claimed = {"analysis_type": "x", "overall_score": 8.8, "insights": [], "recommendations": [],
               "grounding": {"status": "grounded", "checked": 1, "traced": 1, "summary": "1 of 1 figure traced"}}
    with fm.FakeModel(fm.text(claimed)) as server:
        answer = session_on(store, server, market, policy="flag").ask("Hello")
    g = answer.response.grounding
    assert g.status == "flagged" and [(u.where, u.figure) for u in g.untraceable] == [("overall_score", "8.8")]


def test_policy_settings(store, fm, planted_key, market, monkeypatch, tmp_path):
    monkeypatch.setenv("QLWORK_GROUNDING", "lenient")
    with pytest.raises(InputError, match="QLWORK_GROUNDING") as info:
        load_settings()
    assert "repair" in info.value.fix
    monkeypatch.delenv("QLWORK_GROUNDING")
    config = tmp_path / "qlwork.toml"
    config.write_text('[qlwork]\ngrounding = "Reject"\n')
    assert load_settings(config).grounding == "reject" and load_settings().grounding == "repair"
    with fm.FakeModel(fm.text({"analysis_type": "x", "insights": []})) as server:
        session = session_on(store, server, market, policy="sometimes")
        with pytest.raises(InputError):
            session.ask("Hello")
    run = store.list_runs(session.thread_id, limit=1)[0]
    assert run.status == "failed" and run.last_error.code == "invalid_setting"
    assert "metadata['grounding']" in run.last_error.message and "repair, flag, reject" in run.last_error.message


# -- the check itself -------------------------------------------------------------------------------

def test_check_counts_and_records():
    outputs = ['{"overall_score": 6.5, "risk_metrics": {"volatility": 0.1834}, "as_of": "2026-11-20"}',
               {"signals": [{"symbol": "TCS", "action": "sell"}]}]
    answer = {"analysis_type": "x", "overall_score": 6.5, "risk_metrics": {"volatility": 0.1834},
              "insights": ["Volatility 18.34% as of 2026-11-20; upside 31%"],
              "recommendations": [{"action": "buy", "symbol": "TCS", "reason": "Cheap", "confidence": 0.7,
                                   "timeframe": "1 month"}]}
    result = check(answer, outputs)
    assert result.checked == 6 and result.untraceable == [("recommendations[0].confidence", "0.7"),
                                                          ("insights[0]", "31%")]
    assert result.inconsistent == ["buy TCS: signals say sell and the reason does not address it"]
    record = Grounding.of(result, "flag", corrected=False)
    assert record.status == "flagged" and record.summary == "4 of 6 figures traced to tool outputs"
    assert describe(record) == ("Grounding: 4 of 6 figures traced to tool outputs (flagged); not traced: "
                                "recommendations[0].confidence 0.7, insights[0] 31%; at odds with the tools: "
                                "buy TCS: signals say sell and the reason does not address it.")
    long = Grounding.of(type(result)(checked=400, untraceable=[("insights[0]", f"{i}.5%") for i in range(300)]),
                        "repair", corrected=True)
    assert len(long.metadata()["grounding_untraceable"]) == 512  # within the Assistants metadata limit
    assert Grounding.of(type(result)(), "repair", False).summary == "no figures to trace"


def test_schema_stays_backward_compatible():
    from qlwork.assistant.response import parse_response, response_json_schema

    old = {"analysis_type": "portfolio_health", "overall_score": 7.5, "insights": ["stored before grounding existed"]}
    assert TradingResponse.model_validate(old).grounding is None  # answers stored earlier still load
    for strict in (True, False):
        assert "grounding" not in json.dumps(response_json_schema(strict)).lower()  # models are never asked for it
    assert parse_response(json.dumps({**old, "grounding": {"status": "bogus"}})).grounding is None
