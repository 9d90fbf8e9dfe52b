"""Run controls of the Assistants API, applied to every model turn of a run.

A run may carry (in its metadata under :data:`RUN_OPTIONS`, as an API client sent them):
``temperature``, ``top_p`` (forwarded to the model), ``tool_choice`` (``none``: no tools offered;
``auto``; ``required``: the model must call one on its first turn; ``{"type": "function",
"function": {"name": N}}``: only N offered and the model told to call it), ``truncation_strategy``
(``last_messages: N`` keeps the N most recent thread messages), ``max_prompt_tokens`` and
``max_completion_tokens`` (token budgets over the whole run: once usage passes one, the run ends
``incomplete`` with that reason, as OpenAI's does; a turn's own answer is capped at what is left of
the completion budget), and ``response_format``.
"""

from __future__ import annotations

from typing import Any

from .backends.base import ModelInput

RUN_OPTIONS = "_qlwork_run_options"
"""Run metadata key holding the options as the client sent them (internal: never on the wire as metadata)."""


def options_of(run: Any) -> dict:
    sent = (getattr(run, "metadata", None) or {}).get(RUN_OPTIONS)
    return sent if isinstance(sent, dict) else {}


def apply(inp: ModelInput, run: Any, usage: Any = None) -> ModelInput:
    """``inp`` with the run's controls applied (tools offered, history kept, model options)."""
    sent = options_of(run)
    if not sent:
        return inp
    model: dict = {k: sent[k] for k in ("temperature", "top_p") if sent.get(k) is not None}
    choice = sent.get("tool_choice")
    if choice == "none":
        inp.tools, inp.client_tools = [], []
    elif isinstance(choice, dict) and (choice.get("function") or {}).get("name"):
        name = choice["function"]["name"]
        inp.tools = [t for t in inp.tools if t.name == name]
        inp.client_tools = [c for c in inp.client_tools if c.get("name") == name]
        if not inp.run_items:
            model["tool_choice"] = {"type": "function", "function": {"name": name}}
    elif choice == "required" and not inp.run_items:
        model["tool_choice"] = "required"
    last = (sent.get("truncation_strategy") or {}).get("last_messages")
    if sent.get("truncation_strategy", {}).get("type") == "last_messages" and isinstance(last, int) and last > 0:
        inp.messages = inp.messages[-last:]
    budget = sent.get("max_completion_tokens")
    if isinstance(budget, int) and budget > 0:
        model["max_tokens"] = max(1, budget - (getattr(usage, "completion_tokens", 0) or 0))
    fmt = sent.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") in ("json_schema", "json_object", "text"):
        model["response_format"] = fmt
    inp.options = model
    return inp


def limit_hit(run: Any, usage: Any) -> dict | None:
    """``incomplete_details`` when the run's usage passed one of its token budgets, else None."""
    sent = options_of(run)
    for name, used in (("max_prompt_tokens", "prompt_tokens"), ("max_completion_tokens", "completion_tokens")):
        cap = sent.get(name)
        spent = getattr(usage, used, 0) or 0
        if isinstance(cap, int) and cap > 0 and spent > cap:
            return {"reason": name, "message": f"The run used {spent} {used.replace('_', ' ')}, over its {name} "
                                               f"of {cap}."}
    return None
