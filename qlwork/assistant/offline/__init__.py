"""The offline rule engine: the default backend, deterministic, no network, no key.

Owns reading what the user asked (``intent.py``; the structured request's parts in ``request.py``, what
earlier answers were about in ``entities.py``), planning tool calls and composing a TradingResponse
from their outputs (``engine.py`` the backend, ``compose.py`` the answers, ``plan_request.py`` and
``compose_request.py`` comparisons, rankings and explanations, ``compose_files.py`` file and code
questions with ``code_templates.py``, ``compose_client.py`` client-function mode for assistants with
their own function tools).

Imports the backend protocol (``..backends.base``), the answer schema (``..response``) and the layers
below the assistant; never the runner, the store, the session or the model backends.
"""
