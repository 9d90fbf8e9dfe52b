"""The offline rule engine: the default backend, deterministic, no network, no key.

Owns reading what the user asked (``intent.py``), planning tool calls and composing a TradingResponse
from their outputs (``engine.py`` the backend, ``compose.py`` the answers, ``compose_files.py`` file
questions, ``compose_client.py`` client-function mode for assistants with their own function tools).

Imports the backend protocol (``..backends.base``), the answer schema (``..response``) and the layers
below the assistant; never the runner, the store, the session or the model backends.
"""
