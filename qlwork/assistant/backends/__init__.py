"""Model backends behind one protocol (see :mod:`.base`)."""

from .base import Backend, FinalMessage, ModelInput, ToolCallRequest, ToolCalls, get_backend

__all__ = ["Backend", "FinalMessage", "ModelInput", "ToolCallRequest", "ToolCalls", "get_backend"]
