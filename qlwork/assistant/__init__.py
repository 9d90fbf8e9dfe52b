"""The assistant: Assistants-style objects, their store (`store/`), the run loop and its checks
(runner, grounding, coverage, response), the offline rule engine (`offline/`), model backends (`backends/`)
and the Session used by widget, notebooks and CLI."""

from .defaults import ensure_default_assistant
from .objects import Assistant, Message, Run, RunStep, Thread, ToolCall
from .response import Recommendation, TradingResponse, parse_response
from .runner import Runner, trim_history
from .session import Answer, Session
from .store import Store

__all__ = ["Answer", "Assistant", "Message", "Recommendation", "Run", "RunStep", "Runner", "Session", "Store",
           "Thread", "ToolCall", "TradingResponse", "ensure_default_assistant", "parse_response", "trim_history"]
