"""A local fake of the Kite Connect HTTP API for tests and benchmarks (binds 127.0.0.1 only).

Serves Kite-shaped data generated from the demo universe: ``POST /session/token``, ``GET /user/profile``,
``/portfolio/holdings``, ``/mf/holdings``, ``/instruments``, ``/instruments/NSE`` and ``/instruments/BSE`` (CSV), ``/instruments/historical/{token}/
{interval}``, ``/quote``, ``/quote/ltp``, ``/quote/ohlc``; anything else is 404 (and recorded). Responses
use Kite's envelope; errors carry ``error_type`` like Kite (each request's Authorization header and body
are recorded in ``Request.extra``). Requests need ``Authorization: token
api_key:access_token`` (403 TokenException otherwise). Historical requests longer than Kite's per-interval
cap and quote calls over the instrument limit get 400 InputException, as from Kite.

The server's "today" (default 2026-11-20) has a partial daily bar whose close moves a tick each time
it is served. Every request is recorded (monotonic time, method, path, query, status). Faults are
injected per test with :meth:`FakeKite.fail`.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import socket
import threading
import time
import urllib.parse
import zlib
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np

from qlwork.market.demo import DEMO_AS_OF, DemoMarketData
from qlwork.market.demo_nifty500 import INDEX_TOKENS

CAPS = {"minute": 60, "3minute": 100, "5minute": 100, "10minute": 100, "15minute": 200, "30minute": 200,
        "60minute": 400, "day": 2000}
LIMITS = {"historical": 3, "quote": 1, "other": 10}
CSV_COLUMNS = ["instrument_token", "exchange_token", "tradingsymbol", "name", "last_price", "expiry", "strike",
               "tick_size", "lot_size", "instrument_type", "segment", "exchange"]
# symbols in the dump but not in the demo universe: (symbol, name, demo symbol whose prices it reuses, scale)
EXTRA = (("ZOMATO", "ZOMATO", "TRENT", 0.05), ("IDEA", "VODAFONE IDEA", "YESBANK", 0.4),
         ("RELINFRA", "RELIANCE INFRASTRUCTURE", "RELIANCE", 0.2))
# BSE instruments (not in the NSE dump's rows): (symbol, name, demo symbol whose prices it reuses, scale).
# SBIN is also on NSE (a BSE holding of it must be priced from BSE); KAMATHOTEL is BSE-only.
BSE = (("SBIN", "STATE BANK OF INDIA", "SBIN", 1.002), ("KAMATHOTEL", "KAMAT HOTELS", "ITC", 0.5))
MAX_REQUESTS = 50_000


@dataclass
class Fault:
    kind: str  # token | permission | input | 429 | 500 | 503 | tryagain | html | slow | drop | redirect
    prefix: str = "/"
    times: int = 1
    delay: float = 0.0
    location: str = ""  # redirect: the Location header (a path on this server or a full URL)
    status: int = 302  # redirect: 301 / 302 / 303 / 307 / 308


@dataclass
class Request:
    t: float
    method: str
    path: str
    query: dict
    status: int = 0
    extra: dict = field(default_factory=dict)


def _kite_ts(day: dt.date, minute: int = 0) -> str:
    h, m = divmod(minute, 60)
    return f"{day.isoformat()}T{h:02d}:{m:02d}:00+0530"


class FakeKite:
    """The fake server. ``start()``/``stop()`` or use as a context manager; ``url`` is the API root."""

    def __init__(self, *, api_key: str = "fake_api_key", api_secret: str = "fake_api_secret",
                 access_token: str = "fake_access_token", today: dt.date = DEMO_AS_OF, user_id: str = "AB1234",
                 enforce_limits: bool = False) -> None:
        self.api_key, self.api_secret, self.access_token = api_key, api_secret, access_token
        self.valid_tokens = {access_token}
        self.request_tokens = {"req_token_ok"}
        self.today, self.user_id, self.enforce_limits = today, user_id, enforce_limits
        self.requests: list[Request] = []
        self.faults: list[Fault] = []
        self.today_serves = 0
        self._lock = threading.Lock()
        self._demo = DemoMarketData()
        inst = self._demo.instruments()
        self._rows = [{c: r[c] for c in CSV_COLUMNS} for r in inst.to_dict("records")]
        self._source = {int(r["instrument_token"]): (r["tradingsymbol"], 1.0) for r in self._rows}
        for i, (sym, name, base, scale) in enumerate(EXTRA):
            token = (9000 + i) * 256 + 1
            self._rows.append({"instrument_token": token, "exchange_token": 9000 + i, "tradingsymbol": sym,
                               "name": name, "last_price": 0.0, "expiry": "", "strike": 0.0, "tick_size": 0.05,
                               "lot_size": 1, "instrument_type": "EQ", "segment": "NSE", "exchange": "NSE"})
            self._source[token] = (base, scale)
        for name, token in INDEX_TOKENS.items():  # the demo's other indices, as Kite lists indices
            self._rows.append({"instrument_token": token, "exchange_token": token // 256, "tradingsymbol": name,
                               "name": name, "last_price": 0.0, "expiry": "", "strike": 0.0, "tick_size": 0.0,
                               "lot_size": 0, "instrument_type": "EQ", "segment": "INDICES", "exchange": "NSE"})
            self._source[token] = (name, 1.0)
        self.tokens = {r["tradingsymbol"]: int(r["instrument_token"]) for r in self._rows}
        self.bse_tokens: dict[str, int] = {}
        for i, (sym, name, base, scale) in enumerate(BSE):
            token = (500000 + i) * 256 + 4  # Kite's BSE tokens end in segment 4
            self.bse_tokens[sym] = token
            self._source[token] = (base, scale)
        self.holdings = [
            self._holding("RELIANCE", 10, 1400.0), self._holding("TCS", 5, 3300.0),
            self._holding("HDFCBANK", 20, 900.0), self._holding("INFY", 15, 1500.0),
            self._holding("ZOMATO", 100, 200.0), self._holding("ITC", 0, 400.0, t1=50),
        ]
        # Kite's documented /mf/holdings fields; tradingsymbol is the scheme's ISIN
        self.mf_holdings = [
            {"folio": "1234567/89", "fund": "PARAG PARIKH FLEXI CAP FUND - DIRECT PLAN", "tradingsymbol": "INF879O01027",
             "average_price": 62.35, "last_price": 88.412, "last_price_date": "2026-11-19", "pnl": 13031.0,
             "quantity": 500.123, "pledged_quantity": 0},
            {"folio": "7654321", "fund": "HDFC LIQUID FUND - DIRECT PLAN", "tradingsymbol": "INF179KB1HP9",
             "average_price": 4650.0, "last_price": 5102.77, "last_price_date": "2026-11-19", "pnl": 4527.7,
             "quantity": 10.0, "pledged_quantity": 0},
            {"folio": "555000", "fund": "UTI NIFTY 50 INDEX FUND - DIRECT PLAN", "tradingsymbol": "INF789F01XA0",
             "average_price": 120.0, "last_price": 171.5, "last_price_date": "2026-11-19", "pnl": 5150.0,
             "quantity": 100.0, "pledged_quantity": 0},
        ]
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def add_instrument(self, symbol: str, name: str, base: str, scale: float, instrument_type: str = "EQ") -> int:
        """One more NSE row in the instrument dump (an ETF, say), priced from the demo symbol ``base``
        times ``scale``; returns its token."""
        token = (9500 + len(self._rows)) * 256 + 1
        self._rows.append({"instrument_token": token, "exchange_token": 9500 + len(self._rows), "tradingsymbol": symbol,
                           "name": name, "last_price": 0.0, "expiry": "", "strike": 0.0, "tick_size": 0.01,
                           "lot_size": 1, "instrument_type": instrument_type, "segment": "NSE", "exchange": "NSE"})
        self._source[token] = (base, scale)
        self.tokens[symbol] = token
        return token

    # -- lifecycle --------------------------------------------------------------------------
    @property
    def url(self) -> str:
        assert self._server is not None, "server not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> "FakeKite":
        handler = type("Handler", (_Handler,), {"fake": self})
        server = _Server(("127.0.0.1", 0), handler)
        server.daemon_threads = True
        server.block_on_close = False
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> "FakeKite":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- test controls ----------------------------------------------------------------------
    def fail(self, kind: str, prefix: str = "/", times: int = 1, delay: float = 0.0, *, location: str = "",
             status: int = 302) -> None:
        """Inject a fault for the next ``times`` requests whose path starts with ``prefix``
        (``kind="redirect"`` answers ``status`` with ``Location: location``)."""
        with self._lock:
            self.faults.append(Fault(kind, prefix, times, delay, location, status))

    def expire_tokens(self) -> None:
        """Make every issued access token invalid (as after 06:00 IST)."""
        with self._lock:
            self.valid_tokens.clear()

    def reset_log(self) -> None:
        with self._lock:
            self.requests.clear()

    def log(self, prefix: str = "/") -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.path.startswith(prefix)]

    def count(self, prefix: str = "/") -> int:
        return len(self.log(prefix))

    def max_in_window(self, prefix: str, window: float = 1.0) -> int:
        """Most requests under ``prefix`` received within any ``window`` seconds (server clock)."""
        times = sorted(r.t for r in self.log(prefix))
        best, j = 0, 0
        for i, t in enumerate(times):
            while t - times[j] >= window:
                j += 1
            best = max(best, i - j + 1)
        return best

    # -- data -------------------------------------------------------------------------------
    def holding(self, sym: str, qty: int, avg: float, t1: int = 0, exchange: str = "NSE", **fields) -> dict:
        """A Kite-shaped holding of ``sym`` on ``exchange`` (``fields`` override any attribute)."""
        return {**self._holding(sym, qty, avg, t1, exchange), **fields}

    def _holding(self, sym: str, qty: int, avg: float, t1: int = 0, exchange: str = "NSE") -> dict:
        token = (self.bse_tokens if exchange == "BSE" else self.tokens)[sym]
        bar = self._bars(token, self.today - dt.timedelta(days=10), self.today)
        last, prev = float(bar["close"][-1]), float(bar["close"][-2])
        return {"tradingsymbol": sym, "exchange": exchange, "instrument_token": token,
                "isin": f"INE{zlib.crc32(sym.encode()) % 10**6:06d}01", "product": "CNC", "price": 0, "quantity": qty,
                "used_quantity": 0, "t1_quantity": t1, "realised_quantity": qty, "authorised_quantity": 0,
                "opening_quantity": qty, "collateral_quantity": 0, "collateral_type": "",
                "average_price": avg, "last_price": last, "close_price": prev,
                "pnl": round((last - avg) * (qty + t1), 2), "day_change": round(last - prev, 2),
                "day_change_percentage": round((last - prev) / prev * 100, 4)}

    @functools.lru_cache(maxsize=512)
    def _daily(self, token: int):
        sym, scale = self._source[token]
        frame = self._demo.candles([sym])[sym]
        days = frame["date"].dt.date.to_numpy()
        arrays = {k: frame[k].to_numpy() * (scale if k != "volume" else 1) for k in
                  ("open", "high", "low", "close", "volume")}
        return days, arrays

    def _bars(self, token: int, lo: dt.date, hi: dt.date) -> dict:
        days, arr = self._daily(token)
        keep = (days >= lo) & (days <= min(hi, self.today))
        out = {"date": list(days[keep])}
        out.update({k: np.round(v[keep], 2) for k, v in arr.items()})
        if out["date"] and out["date"][-1] == self.today:  # partial bar: moves each time it is served
            with self._lock:
                self.today_serves += 1
                bump = 0.05 * self.today_serves
            for k in ("close", "high"):
                out[k] = out[k].copy()
            out["close"][-1] = round(out["close"][-1] + bump, 2)
            out["high"][-1] = max(out["high"][-1], out["close"][-1])
        return out

    @staticmethod
    @functools.lru_cache(maxsize=4096)
    def _minutes(token: int, day: dt.date, o: float, h: float, lo: float, c: float, v: int):
        rng = np.random.default_rng(token * 100_000 + day.toordinal())
        n = 375
        path = o + (c - o) * np.linspace(0, 1, n + 1) + np.cumsum(rng.normal(0, (h - lo) / 40, n + 1))
        path -= np.linspace(path[0] - o, path[-1] - c, n + 1)
        path = np.clip(path, lo, h)
        opens, closes = path[:-1], path[1:]
        highs = np.minimum(np.maximum(opens, closes) + (h - lo) * 0.01, h)
        lows = np.maximum(np.minimum(opens, closes) - (h - lo) * 0.01, lo)
        vols = np.maximum(rng.multinomial(int(v), np.ones(n) / n), 1)
        return np.round(opens, 2), np.round(highs, 2), np.round(lows, 2), np.round(closes, 2), vols

    def candles(self, token: int, interval: str, start: dt.datetime, end: dt.datetime) -> list[list]:
        bars = self._bars(token, start.date(), end.date())
        out: list[list] = []
        if interval == "day":
            for i, day in enumerate(bars["date"]):
                out.append([_kite_ts(day), float(bars["open"][i]), float(bars["high"][i]), float(bars["low"][i]),
                            float(bars["close"][i]), int(bars["volume"][i])])
            return out
        step = 60 if interval == "60minute" else int(interval[:-6] or 1)
        for i, day in enumerate(bars["date"]):
            o, h, lo, c, v = self._minutes(token, day, *(float(bars[k][i]) for k in ("open", "high", "low", "close")),
                                           int(bars["volume"][i]))
            for a in range(0, 375, step):
                b = min(a + step, 375)
                stamp = dt.datetime.combine(day, dt.time(9, 15)) + dt.timedelta(minutes=a)
                if not (start <= stamp <= end):
                    continue
                out.append([_kite_ts(day, 9 * 60 + 15 + a), float(o[a]), float(h[a:b].max()), float(lo[a:b].min()),
                            float(c[b - 1]), int(v[a:b].sum())])
        return out

    def quote_for(self, key: str, kind: str) -> dict | None:
        exchange, _, sym = key.partition(":")
        token = {"NSE": self.tokens, "BSE": self.bse_tokens}.get(exchange, {}).get(sym)
        if token is None:
            return None
        bars = self._bars(token, self.today - dt.timedelta(days=10), self.today)
        last, prev = float(bars["close"][-1]), float(bars["close"][-2])
        ohlc = {"open": float(bars["open"][-1]), "high": float(bars["high"][-1]), "low": float(bars["low"][-1]),
                "close": prev}
        if kind == "ltp":
            return {"instrument_token": token, "last_price": last}
        if kind == "ohlc":
            return {"instrument_token": token, "last_price": last, "ohlc": ohlc}
        stamp = f"{self.today.isoformat()} 14:00:00"
        return {"instrument_token": token, "timestamp": stamp, "last_trade_time": stamp, "last_price": last,
                "last_quantity": 1, "buy_quantity": 1000, "sell_quantity": 900, "volume": int(bars["volume"][-1]),
                "average_price": round((ohlc["high"] + ohlc["low"]) / 2, 2), "oi": 0, "oi_day_high": 0,
                "oi_day_low": 0, "net_change": round(last - prev, 2), "lower_circuit_limit": round(prev * 0.8, 2),
                "upper_circuit_limit": round(prev * 1.2, 2), "ohlc": ohlc,
                "depth": {"buy": [{"price": last, "quantity": 10, "orders": 1}],
                          "sell": [{"price": last + 0.05, "quantity": 10, "orders": 1}]}}

    def bse_csv(self) -> str:
        """``GET /instruments/BSE``: the BSE equities of :data:`BSE`."""
        lines = [",".join(CSV_COLUMNS)]
        for i, (sym, name, _, _) in enumerate(BSE):
            token = self.bse_tokens[sym]
            lines.append(f"{token},{token // 256},{sym},{name},0.0,,0.0,0.05,1,EQ,BSE,BSE")
        return "\n".join(lines) + "\n"

    def dump_csv(self, everything: bool) -> str:
        rows = list(self._rows)
        if everything:
            rows.append({"instrument_token": 12345678, "exchange_token": 48225, "tradingsymbol": "NIFTY26NOVFUT",
                         "name": "NIFTY", "last_price": 0.0, "expiry": "2026-11-26", "strike": 0.0,
                         "tick_size": 0.05, "lot_size": 75, "instrument_type": "FUT", "segment": "NFO-FUT",
                         "exchange": "NFO"})
            rows.append({"instrument_token": 128083204, "exchange_token": 500325, "tradingsymbol": "RELIANCE",
                         "name": "RELIANCE INDUSTRIES", "last_price": 0.0, "expiry": "", "strike": 0.0,
                         "tick_size": 0.05, "lot_size": 1, "instrument_type": "EQ", "segment": "BSE",
                         "exchange": "BSE"})
        lines = [",".join(CSV_COLUMNS)]
        for r in rows:
            vals = ["" if r[c] is None else str(r[c]) for c in CSV_COLUMNS]
            lines.append(",".join(f'"{v}"' if "," in v else v for v in vals))
        return "\n".join(lines) + "\n"


class _Server(ThreadingHTTPServer):
    def handle_error(self, request, client_address) -> None:  # dropped connections are deliberate
        pass


def _category(path: str) -> str:
    if path.startswith("/instruments/historical/"):
        return "historical"
    return "quote" if path.startswith("/quote") else "other"


def _error(status: int, error_type: str, message: str) -> tuple[int, str, bytes]:
    body = json.dumps({"status": "error", "message": message, "data": None, "error_type": error_type})
    return status, "application/json", body.encode()


def _ok(data) -> tuple[int, str, bytes]:
    return 200, "application/json", json.dumps({"status": "success", "data": data}).encode()


def _parse_time(text: str) -> dt.datetime:
    text = (text or "").strip()
    return dt.datetime.fromisoformat(text if len(text) > 10 else text + " 00:00:00")


class _Handler(BaseHTTPRequestHandler):
    fake: FakeKite
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # silence
        pass

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def _handle(self, method: str) -> None:
        fake = self.fake
        parts = urllib.parse.urlsplit(self.path)
        path, query = parts.path, urllib.parse.parse_qs(parts.query)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        rec = Request(time.monotonic(), method, path, query,
                      extra={"authorization": self.headers.get("Authorization", ""), "body": body})
        with fake._lock:
            fake.requests.append(rec)
            total = len(fake.requests)
            fault = next((f for f in fake.faults if f.times > 0 and path.startswith(f.prefix)), None)
            if fault is not None:
                fault.times -= 1
        if total > MAX_REQUESTS:
            return self._send(rec, *_error(503, "NetworkException", "fake server request cap reached"))
        if fault is not None:
            if fault.kind == "drop":
                rec.status = -1
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            if fault.kind == "redirect":
                rec.status = fault.status
                self.send_response(fault.status)
                self.send_header("Location", fault.location)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if fault.kind == "slow":
                time.sleep(fault.delay)
            else:
                return self._send(rec, *self._fault(fault.kind))
        if fake.enforce_limits:
            cat = _category(path)
            with fake._lock:
                recent = [r for r in fake.requests if _category(r.path) == cat and rec.t - r.t < 1.0
                          and r.status != 429]
            if len(recent) > LIMITS[cat]:
                return self._send(rec, *_error(429, "NetworkException", "Too many requests"))
        try:
            result = self._route(method, path, query, body)
        except Exception as exc:  # a bug in the fake: say so in a Kite-shaped 500
            result = _error(500, "GeneralException", f"fake server error: {type(exc).__name__}: {exc}")
        self._send(rec, *result)

    def _fault(self, kind: str) -> tuple[int, str, bytes]:
        auth = self.headers.get("Authorization", "")
        table = {
            "token": _error(403, "TokenException", "Incorrect `api_key` or `access_token`."),
            "permission": _error(403, "PermissionException", "Insufficient permission for that call."),
            "input": _error(400, "InputException", "invalid token"),
            "429": _error(429, "NetworkException", "Too many requests"),
            "500": _error(500, "GeneralException", "Something went wrong. Please try again."),
            "503": _error(503, "NetworkException", "Gateway timed out. Please try again."),
            # Kite's general "try again" error, as some endpoints send it with a 4xx status
            "tryagain": _error(400, "GeneralException", "Something went wrong, please try again later."),
            # an upstream error page that (badly) echoes the request's Authorization header
            "html": (502, "text/html", f"<html><body><h1>502 Bad Gateway</h1><p>{auth}</p></body></html>".encode()),
        }
        return table[kind]

    def _send(self, rec: Request, status: int, ctype: str, payload: bytes) -> None:
        rec.status = status
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _authorised(self) -> bool:
        fake = self.fake
        auth = self.headers.get("Authorization", "")
        prefix = f"token {fake.api_key}:"
        with fake._lock:
            return auth.startswith(prefix) and auth[len(prefix):] in fake.valid_tokens

    def _route(self, method: str, path: str, query: dict, body: bytes) -> tuple[int, str, bytes]:
        fake = self.fake
        if method == "POST" and path == "/session/token":
            return self._session(urllib.parse.parse_qs(body.decode()))
        known_get = path in ("/user/profile", "/portfolio/holdings", "/mf/holdings", "/instruments", "/quote", "/quote/ltp",
                             "/quote/ohlc") or path.startswith("/instruments/")
        if method != "GET" or not known_get:
            return _error(404, "GeneralException", f"Route not found: {method} {path}")
        if not self._authorised():
            return _error(403, "TokenException", "Incorrect `api_key` or `access_token`.")
        if path == "/user/profile":
            return _ok({"user_id": fake.user_id, "user_name": "Fake User", "user_shortname": "Fake",
                        "email": "fake@example.com", "user_type": "individual", "broker": "ZERODHA",
                        "exchanges": ["NSE", "BSE"], "products": ["CNC"], "order_types": ["MARKET", "LIMIT"]})
        if path == "/portfolio/holdings":
            return _ok(fake.holdings)
        if path == "/mf/holdings":
            return _ok(fake.mf_holdings)
        if path in ("/instruments", "/instruments/NSE"):
            return 200, "text/csv", fake.dump_csv(everything=path == "/instruments").encode()
        if path.startswith("/instruments/historical/"):
            return self._historical(path, query)
        if path == "/instruments/BSE":
            return 200, "text/csv", fake.bse_csv().encode()
        if path.startswith("/instruments/"):
            return 200, "text/csv", (",".join(CSV_COLUMNS) + "\n").encode()
        keys = query.get("i", [])
        kind = {"/quote": "quote", "/quote/ltp": "ltp", "/quote/ohlc": "ohlc"}[path]
        if len(keys) > (500 if kind == "quote" else 1000):
            return _error(400, "InputException", "Too many instruments")
        data = {k: q for k in keys if (q := fake.quote_for(k, kind)) is not None}
        return _ok(data)

    def _session(self, form: dict) -> tuple[int, str, bytes]:
        fake = self.fake
        key = (form.get("api_key") or [""])[0]
        req = (form.get("request_token") or [""])[0]
        checksum = (form.get("checksum") or [""])[0]
        expected = hashlib.sha256((fake.api_key + req + fake.api_secret).encode()).hexdigest()
        with fake._lock:
            ok = key == fake.api_key and checksum == expected and req in fake.request_tokens
            if ok:
                fake.request_tokens.discard(req)
                fake.valid_tokens.add(fake.access_token)
        if not ok:
            return _error(403, "TokenException", "Token is invalid or has expired.")
        return _ok({"user_id": fake.user_id, "user_name": "Fake User", "user_shortname": "Fake",
                    "email": "fake@example.com", "user_type": "individual", "broker": "ZERODHA",
                    "api_key": fake.api_key, "access_token": fake.access_token, "public_token": "pub_fake",
                    "refresh_token": "", "login_time": f"{fake.today.isoformat()} 09:12:33",
                    "exchanges": ["NSE"], "products": ["CNC"], "order_types": ["LIMIT"]})

    def _historical(self, path: str, query: dict) -> tuple[int, str, bytes]:
        fake = self.fake
        parts = path.split("/")
        if len(parts) != 5:
            return _error(400, "InputException", "invalid path")
        try:
            token = int(parts[3])
        except ValueError:
            return _error(400, "InputException", "invalid token")
        interval = parts[4]
        if interval not in CAPS:
            return _error(400, "InputException", "invalid interval")
        if token not in fake._source:
            return _error(400, "InputException", "invalid token")
        try:
            start = _parse_time(query.get("from", [""])[0])
            end = _parse_time(query.get("to", [""])[0])
        except ValueError:
            return _error(400, "InputException", "invalid from or to date")
        if start > end:
            return _error(400, "InputException", "invalid date range")
        if (end - start) > dt.timedelta(days=CAPS[interval]):
            return _error(400, "InputException", f"interval exceeds max limit: {CAPS[interval]} days")
        return _ok({"candles": fake.candles(token, interval, start, end)})
