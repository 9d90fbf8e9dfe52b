"""The JupyterLab chat panel: :class:`AssistantChat` (ipywidgets).

- :mod:`.chat`   the widget: header, conversation, input, thread picker, attachments, streaming
- :mod:`.parts`  the widget pieces built per answer (answer card, steps accordion, charts)
- :mod:`.render` pure HTML rendering of answers, steps and errors (no widgets; unit-tested directly)
"""

from .chat import AssistantChat

__all__ = ["AssistantChat"]
