"""The seed's platform service, unchanged, against a live server: AsyncOpenAI, thread metadata with
the platform's own ids, the portfolio uploaded and attached to a message, run, parse TradingResponse."""

from __future__ import annotations

import asyncio
import io
import json

import pytest

from qlwork.assistant.response import TradingResponse


@pytest.fixture()
def live(served_live):
    """This module's flows run against a real ``qlwork serve`` subprocess."""
    return served_live


HOLDINGS = [  # Kite holdings() rows (extra fields are ignored)
    {"tradingsymbol": "TCS", "exchange": "NSE", "isin": "INE467B01029", "quantity": 12, "t1_quantity": 0,
     "average_price": 3100.5, "last_price": 3400.0, "product": "CNC"},
    {"tradingsymbol": "HDFCBANK", "exchange": "NSE", "isin": "INE040A01034", "quantity": 40, "t1_quantity": 0,
     "average_price": 1500.0, "last_price": 1600.0, "product": "CNC"},
    {"tradingsymbol": "RELIANCE", "exchange": "NSE", "isin": "INE002A01018", "quantity": 25, "t1_quantity": 0,
     "average_price": 2400.0, "last_price": 2500.0, "product": "CNC"},
]
KITE_JSON = json.dumps({"status": "success", "data": HOLDINGS}).encode()
CSV = b"tradingsymbol,exchange,quantity,average_price\nINFY,NSE,30,1400\nITC,NSE,200,420\nSBIN,NSE,80,600\n"
PLATFORM_META = {"user_id": "platform-user-7", "portfolio_id": "pf-789", "risk_profile": "moderate"}


class PlatformService:
    """Shaped like the seed's OpenAIAssistantService: everything through AsyncOpenAI."""

    def __init__(self, client, assistant_id: str) -> None:
        self.client, self.assistant_id = client, assistant_id

    async def analyze(self, metadata: dict, question: str, upload: tuple[str, bytes] | None = None,
                      tools: list | None = None) -> tuple[TradingResponse, str]:
        thread = await self.client.beta.threads.create(metadata=metadata)
        attachments = []
        if upload is not None:
            file = await self.client.files.create(file=(upload[0], io.BytesIO(upload[1])), purpose="assistants")
            attachments = [{"file_id": file.id, **({"tools": tools} if tools is not None else {})}]
        await self.client.beta.threads.messages.create(thread.id, role="user", content=question,
                                                       attachments=attachments)
        run = await self.client.beta.threads.runs.create_and_poll(thread_id=thread.id,
                                                                  assistant_id=self.assistant_id)
        assert run.status == "completed", run.last_error
        messages = await self.client.beta.threads.messages.list(thread_id=thread.id, order="desc", limit=1)
        return TradingResponse.model_validate(json.loads(messages.data[0].content[0].text.value)), thread.id


def _service(live, user: str) -> PlatformService:
    client = live.async_client(user)
    assistant = asyncio.run(client.beta.assistants.create(model="gpt-4o", name="Trading assistant",
                                                          instructions="Answer as TradingResponse JSON."))
    return PlatformService(live.async_client(user), assistant.id)


def analysed_symbols(client, thread_id: str) -> set[str]:
    """Symbols of the holdings analyze_portfolio read in the thread's latest run."""
    run = client.beta.threads.runs.list(thread_id=thread_id, limit=1).data[0]
    steps = client.beta.threads.runs.steps.list(run.id, thread_id=thread_id, order="asc").data
    for call in steps[0].step_details.tool_calls:
        if call.function.name == "analyze_portfolio":
            return {h["symbol"] for h in json.loads(call.function.output)["holdings"]}
    raise AssertionError("analyze_portfolio was not called")


@pytest.mark.parametrize("name,data,tools,symbols", [
    ("holdings.json", KITE_JSON, None, ("TCS", "HDFCBANK", "RELIANCE")),
    ("portfolio_data.json", json.dumps({"portfolio_id": "pf-789", "holdings": HOLDINGS}).encode(),
     [{"type": "code_interpreter"}], ("TCS", "HDFCBANK", "RELIANCE")),
    ("holdings.csv", CSV, [{"type": "file_search"}], ("INFY", "ITC", "SBIN")),
    ("export", CSV, None, ("INFY", "ITC", "SBIN")),  # no extension: the content decides
])
def test_attached_holdings_become_the_portfolio(live, name, data, tools, symbols):
    service = _service(live, "seed-a")
    answer, thread_id = asyncio.run(service.analyze(PLATFORM_META, "Analyze my portfolio", (name, data), tools))
    assert answer.analysis_type == "portfolio_health" and answer.overall_score is not None
    client = live.client("seed-a")
    assert analysed_symbols(client, thread_id) == set(symbols)
    assert answer.conversation_context.thread_id == thread_id
    thread = client.beta.threads.retrieve(thread_id)
    assert thread.metadata == PLATFORM_META  # the platform's own ids are untouched


def test_attachment_wins_over_a_sample_and_follows_later_messages(live):
    client = live.client("seed-b")
    assistant = client.beta.assistants.create(model="gpt-4o")
    thread = client.beta.threads.create(metadata={"portfolio_id": "sample:diversified"})
    client.beta.threads.messages.create(thread.id, role="user", content="Analyze my portfolio")
    client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    sample = analysed_symbols(client, thread.id)
    assert "HDFCBANK" in sample and len(sample) > 3  # the sample before any attachment

    csv_file = client.files.create(file=("mine.csv", io.BytesIO(CSV)), purpose="assistants")
    attached = client.beta.threads.messages.create(thread.id, role="user", content="Analyze my portfolio now",
                                                   attachments=[{"file_id": csv_file.id}])
    client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    assert analysed_symbols(client, thread.id) == {"INFY", "ITC", "SBIN"}

    # deleting the message that carried the file hands the thread back to its portfolio_id
    deleted = client.beta.threads.messages.delete(attached.id, thread_id=thread.id)
    assert deleted.deleted and deleted.id == attached.id and deleted.object == "thread.message.deleted"
    client.beta.threads.messages.create(thread.id, role="user", content="Analyze my portfolio again")
    client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    assert analysed_symbols(client, thread.id) == sample


def test_no_portfolio_says_what_to_send(live):
    service = _service(live, "seed-c")
    answer, _ = asyncio.run(service.analyze(PLATFORM_META, "Analyze my portfolio"))
    assert answer.analysis_type == "error" and answer.extra["error"] == "no_portfolio"
    assert any("Attach a holdings file" in i for i in answer.insights)


def test_invalid_holdings_attachment_is_refused_with_the_row(live):
    import openai

    client = live.client("seed-d")
    thread = client.beta.threads.create(metadata=PLATFORM_META)
    bad = client.files.create(file=("h.csv", io.BytesIO(b"tradingsymbol,quantity,average_price\nTCS,-4,3000\n")),
                              purpose="assistants")
    with pytest.raises(openai.BadRequestError) as exc:
        client.beta.threads.messages.create(thread.id, role="user", content="hi", attachments=[{"file_id": bad.id}])
    assert exc.value.code == "invalid_portfolio" and "row 2" in str(exc.value)
    assert client.beta.threads.messages.list(thread.id).data == []  # nothing half-stored


def test_model_backend_reads_the_attached_file_by_id(byoai_user, fm):
    client, model = byoai_user
    assistant = client.beta.assistants.create(model="fake-model")
    thread = client.beta.threads.create(metadata=PLATFORM_META)
    file = client.files.create(file=("holdings.json", io.BytesIO(KITE_JSON)), purpose="assistants")
    client.beta.threads.messages.create(thread.id, role="user", content="Analyze my portfolio",
                                        attachments=[{"file_id": file.id}])
    model.add(fm.calls(("analyze_portfolio", {"portfolio": file.id}, "call_pf_1"),
                       ("calculate_risk_metrics", {}, "call_pf_2")))
    model.add(fm.text({"analysis_type": "portfolio_health", "overall_score": 6.0, "risk_level": "moderate",
                       "recommendations": [], "insights": ["Three holdings"], "risk_metrics": {}}))
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    assert run.status == "completed", run.last_error
    calls = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id, order="asc").data[0]
    outputs = {c.function.name: json.loads(c.function.output) for c in calls.step_details.tool_calls}
    for name in ("analyze_portfolio", "calculate_risk_metrics"):  # by id, and from the thread's attachment
        assert "error" not in outputs[name], outputs[name]
    assert {h["symbol"] for h in outputs["analyze_portfolio"]["holdings"]} == {"TCS", "HDFCBANK", "RELIANCE"}
