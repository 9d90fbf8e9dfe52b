"""Model backends behind one protocol (see :mod:`.base`): OpenAI's Responses API
(``openai_responses.py``), Chat Completions for any OpenAI-compatible server (``openai_chat.py``),
their shared SDK plumbing (``openai_base.py``, ``sdk_backend.py``, ``transcript.py``) and the
scripted backend tests drive the runner with (``scripted.py``). The offline rule engine lives in
:mod:`qlwork.assistant.offline`; :func:`get_backend` finds it by name.

Imports the objects, the answer schema and the layers below the assistant; never the runner, the
store or the session.
"""

from .base import Backend, FinalMessage, ModelInput, ToolCallRequest, ToolCalls, get_backend

__all__ = ["Backend", "FinalMessage", "ModelInput", "ToolCallRequest", "ToolCalls", "get_backend"]
