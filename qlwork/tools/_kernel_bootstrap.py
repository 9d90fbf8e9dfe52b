"""Run inside each code_interpreter kernel at start (its source is executed, not imported).

Blocks Python-level networking (defence in depth on top of the network namespace and Landlock),
preloads pandas / numpy / matplotlib, and defines the helpers ``get_historical_prices``,
``get_close_prices`` and ``read_file`` plus a ``sandbox_status()`` report.
"""

import json as _json
import os as _os
import socket as _socket


def _qlwork_block_network():
    def refuse(*_args, **_kwargs):
        raise PermissionError("Network access is disabled in the qlwork code sandbox.")

    original = _socket.socket

    class _NoNetSocket(original):
        def __init__(self, family=-1, type=-1, proto=-1, fileno=None):
            if family in (_socket.AF_INET, _socket.AF_INET6, -1) and fileno is None:
                refuse()
            super().__init__(family, type, proto, fileno)

    _socket.socket = _NoNetSocket
    for name in ("create_connection", "getaddrinfo", "gethostbyname", "gethostbyname_ex"):
        setattr(_socket, name, refuse)


_qlwork_block_network()
del _qlwork_block_network

OUTPUT_CHARS = 20_000  # the host substitutes its limit


def _qlwork_cap_output(limit):
    """Drop stdout/stderr text and text results past ``limit`` characters per call in the kernel, before it
    is sent, and say how much was dropped (the host cuts again and never receives the rest)."""
    import sys

    from IPython import get_ipython

    counts = {}
    # a property on the stream class: IPython re-binds each stream's ``write`` around every cell (its
    # history tee, which calls the previous ``write``); a plain wrapper would be dropped on the first restore
    stream_class = type(sys.stdout)
    original_write = stream_class.write

    def capped(self, text):
        name = getattr(self, "name", "stdout")
        used = counts.get(name, 0)
        counts[name] = used + len(text)
        return original_write(self, text[:max(0, limit - used)]) if used < limit else len(text)

    def get(self):
        return self.__dict__.get("_qlwork_write") or capped.__get__(self)

    def set(self, fn):
        self.__dict__["_qlwork_write"] = None if getattr(fn, "__func__", None) in (original_write, capped) else fn

    stream_class.write = property(get, set)

    def report(*_args):
        for stream in (sys.stdout, sys.stderr):
            name = getattr(stream, "name", "stdout")
            if counts.get(name, 0) > limit:
                stream.flush()
                original_write(stream, f"\n... [truncated: {counts[name] - limit} more characters]\n")
        counts.clear()

    ip = get_ipython()
    ip.events.register("post_execute", report)
    formatter = ip.display_formatter
    original = formatter.format

    def format(obj, *args, **kwargs):
        data, meta = original(obj, *args, **kwargs)
        text = data.get("text/plain")
        if isinstance(text, str) and len(text) > limit:
            data["text/plain"] = text[:limit] + f"\n... [truncated: {len(text) - limit} more characters]"
            for key in ("text/html", "text/markdown", "text/latex", "application/json"):
                data.pop(key, None)
        return data, meta

    formatter.format = format


_qlwork_cap_output(OUTPUT_CHARS)
del _qlwork_cap_output

import matplotlib  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402,F401
import numpy as np  # noqa: E402,F401
import pandas as pd  # noqa: E402

def _qlwork_hosts_package():
    """``import qlwork`` loads the host's package directory (the one Landlock allows), not whatever an
    editable install elsewhere on the machine points at; nothing is imported until asked for."""
    import importlib.util
    import sys

    package = _os.environ.get("QLWORK_SANDBOX_PACKAGE")

    class HostsQlwork:
        @staticmethod
        def find_spec(name, path=None, target=None):
            if name != "qlwork" or not package:
                return None
            return importlib.util.spec_from_file_location("qlwork", _os.path.join(package, "__init__.py"),
                                                          submodule_search_locations=[package])

    sys.meta_path.insert(0, HostsQlwork)


_qlwork_hosts_package()
del _qlwork_hosts_package

_QLWORK_PROVIDER = _os.environ.get("QLWORK_SANDBOX_PROVIDER", "demo")
_QLWORK_AS_OF = _os.environ.get("QLWORK_SANDBOX_AS_OF") or None


def _qlwork_market():
    if _QLWORK_PROVIDER != "demo":
        raise RuntimeError(f"The {_QLWORK_PROVIDER!r} market provider needs the network, which the sandbox "
                           "blocks. Use the get_market_data tool, or attach the prices as a CSV file.")
    from qlwork.market import get_provider

    return get_provider("demo")


def get_close_prices(symbols, days=252, end=None):
    """Daily closes (INR) for NSE symbols as a DataFrame (index=date, columns=symbol), ``days`` rows
    ending at ``end`` (default: the analysis date of the thread). Demo data is synthetic."""
    import datetime as dt

    market = _qlwork_market()
    names = [symbols] if isinstance(symbols, str) else list(symbols)
    last = pd.Timestamp(end or _QLWORK_AS_OF or getattr(market, "default_as_of", None) or market.last_date()).date()
    start = last - dt.timedelta(days=int(days * 1.6) + 15)
    frame = market.close_prices(names, start=start, end=last)
    return frame.iloc[-int(days):]


def get_historical_prices(symbol, days=252, end=None):
    """Daily closing prices (INR) of one NSE symbol, e.g. ``get_historical_prices("TCS")`` -> Series."""
    return get_close_prices([symbol], days=days, end=end)[symbol]


def read_file(name):
    """An attached file from the working directory: CSV -> DataFrame, JSON -> object, PDF/text -> str."""
    path = _os.path.join(_os.getcwd(), name)
    with open(path, "rb") as f:
        head = f.read(8)
    if head.startswith(b"%PDF-"):
        from qlwork.tools.file_parsing import parse_pdf

        with open(path, "rb") as f:
            return "\n\n".join(parse_pdf(f.read(), name)["pages"])
    if name.lower().endswith(".csv"):
        return pd.read_csv(path)
    with open(path, encoding="utf-8-sig") as f:
        text = f.read()
    return _json.loads(text) if name.lower().endswith(".json") else text


def sandbox_status():
    """What the sandbox enforces for this kernel (as reported by the launcher)."""
    return _json.loads(_os.environ.get("QLWORK_SANDBOX_STATUS", "{}"))


matplotlib.rcParams["figure.dpi"] = 100
