"""Offline engine: requests about files and code, planned as file_search / code_interpreter calls.

Turn one plans the calls from the question and the attached files (looked up by id in the file
store for their name and type): PDFs and text go to file_search, CSV / JSON to code_interpreter
(validated with qlwork's parsers inside the sandbox), images to a metadata read (the rule engine
cannot see pictures), and "compute the 20-day correlation of TCS and INFY"-style questions to code
generated from templates. Turn two composes the answer from the tool outputs only, quoting passages
with ``[filename p.N]`` citations.
"""

from __future__ import annotations

import json
import re

from ...market.base import source_label
from ..backends.base import FinalMessage, ModelInput, ToolCallRequest, ToolCalls
from .compose import ENGINE_NOTE, _errors
from .code_templates import code_for_request
from .intent import Intent

FILE_KINDS = ("files", "code")
_PRICES = re.compile(r"\b(get_close_prices|get_historical_prices|_qlwork_market)\(")
NO_VISION = ("The offline rule engine cannot read charts or pictures: it has no vision model. I can run "
             "signals, prices and risk for the symbols in the chart, analyse the underlying data if you attach "
             "it as CSV, or you can switch to a vision-capable backend (e.g. openai) to describe the image.")


def _attachments(inp: ModelInput, whole_thread: bool = False) -> list[dict]:
    """Files attached to the latest user message (or, ``whole_thread``, to any), with name and kind
    (earlier files are reached by file_search, which searches every file attached to the thread)."""
    users = [m for m in inp.messages if m.role == "user"]
    chosen = [a for m in users for a in m.attachments] if whole_thread else users[-1].attachments if users else []
    out = []
    try:
        from ...tools.files import file_store

        fs = file_store()
    except Exception:  # noqa: BLE001 - no file store: plan from the ids alone
        fs = None
    for a in chosen:
        info = {"file_id": a.file_id, "tools": [t.get("type") for t in a.tools], "filename": a.file_id, "kind": "unknown"}
        try:
            obj = fs.get(a.file_id) if fs else None
            if obj:
                info.update(filename=obj.filename, kind=obj.kind)
        except Exception:  # noqa: BLE001 - unknown id: the tool reports it
            pass
        out.append(info)
    return out


def _file_code(f: dict) -> str:
    """Sandbox code that validates and summarises an attached CSV / JSON / image with qlwork's parsers."""
    name = f["filename"]
    if f["kind"] in ("png", "jpeg"):
        return ("import json\nfrom qlwork.tools.file_parsing import parse_image\n"
                f"info = parse_image(open({name!r}, 'rb').read(), {name!r})\n"
                "print(json.dumps({k: info[k] for k in ('format', 'width', 'height', 'mode')}))")
    return ("import json\nfrom qlwork.tools.file_parsing import parse\ntry:\n"
            "    known = set(_qlwork_market().instruments()['tradingsymbol'])\n"
            "except Exception:\n    known = None\n"
            f"info = parse(open({name!r}, 'rb').read(), {name!r}, known_symbols=known)\n"
            f"out = {{'filename': {name!r}, 'content': info.get('content')}}\n"
            "if info.get('content') == 'earnings':\n"
            "    df = pd.DataFrame(info['earnings']['records'])\n"
            "    metric = next((m for m in ('yoy_growth', 'profit_growth', 'revenue_growth', 'eps', 'net_profit', 'revenue') if m in df), None)\n"
            "    out.update(rows=len(df), symbols=sorted(df['symbol']), periods=info['earnings']['periods'], metrics=info['earnings']['metrics'])\n"
            "    if metric:\n"
            "        ranked = df.sort_values(metric, ascending=False)\n"
            "        out.update(ranked_by=metric, mean=round(float(df[metric].mean()), 4),\n"
            "                   top=ranked.head(3)[['symbol', metric]].to_dict('records'),\n"
            "                   bottom=ranked.tail(2)[['symbol', metric]].to_dict('records'))\n"
            "elif info.get('content') == 'portfolio':\n"
            "    out.update(holdings=info['portfolio']['holdings'], symbols=info['portfolio']['symbols'])\n"
            "else:\n    out.update(info.get('table', {'keys': info.get('keys')}))\n"
            "    out.pop('head', None)\n"
            "print(json.dumps(out, default=str))")


def plan_files(intent: Intent, text: str, inp: ModelInput, available: set[str]) -> list[tuple[str, dict]]:
    """Tool calls for a files / code request."""
    calls: list[tuple[str, dict]] = []
    files = _attachments(inp)
    req = intent.request
    if intent.kind == "code":
        code = req.code if req is not None and req.code else code_for_request(intent, text)
        if code and "code_interpreter" in available:
            calls.append(("code_interpreter", {"code": code}))
        return calls
    for f in files:
        if f["kind"] in ("csv", "json", "png", "jpeg") and "code_interpreter" in available:
            calls.append(("code_interpreter", {"code": _file_code(f), "file_ids": [f["file_id"]]}))
    named = _named_files(inp, req.files if req is not None else [])
    if "file_search" in available and (named or not files or any(f["kind"] in ("pdf", "text", "unknown") for f in files)):
        calls.append(("file_search", {"query": text, "max_results": 4, **({"file_ids": named} if named else {})}))
    return calls


def _named_files(inp: ModelInput, names: list[str]) -> list[str]:
    """Ids of the thread's searchable files whose names contain a file the question names ("my Kotak
    note" -> kotak_*.pdf); "the note" means every PDF / text file attached."""
    if not names:
        return []
    files = [f for f in _attachments(inp, whole_thread=True) if f["kind"] in ("pdf", "text", "unknown")]
    words = [n.lower() for n in names]
    hits = [f["file_id"] for f in files if any(w in f["filename"].lower() for w in words)]
    if not hits and words == ["note"]:
        hits = [f["file_id"] for f in files]
    return list(dict.fromkeys(hits))


def _stdout_json(out: dict) -> dict | None:
    for line in reversed((out.get("stdout") or "").strip().splitlines()):
        try:
            value = json.loads(line)
            return value if isinstance(value, dict) else None
        except ValueError:
            continue
    return None


def compose_files(intent: Intent, text: str, outputs: list, files: list[dict], provider: str = "demo") -> dict:
    """The answer for a files / code request, from this run's tool outputs only."""
    answer = {"analysis_type": "code_analysis" if intent.kind == "code" else "file_analysis", "overall_score": None,
              "risk_level": None, "recommendations": [], "insights": [], "risk_metrics": {}}
    citations, images, code = [], [], []
    for name, args, out in outputs:
        if name == "code_interpreter" and isinstance(args.get("code"), str):
            code.append(args["code"])  # shown as code (a <pre> block), not as JSON text
        if not isinstance(out, dict) or "error" in out:
            continue
        if name == "file_search":
            _search_insights(out, answer, citations)
        elif name == "code_interpreter":
            images += [i["file_id"] for i in out.get("images", []) if i.get("file_id")]
            _code_insights(out, answer, citations)
            data = _stdout_json(out) or {}
            if data.get("synthetic") or (provider == "demo" and _PRICES.search(args.get("code", ""))):
                answer["data_source"] = source_label({"synthetic": True})
    if not outputs:
        answer["insights"].append("I could not plan a calculation for this request. I can compute correlations "
                                  "(e.g. 'compute the 20-day correlation of TCS and INFY'), RSI and volatility for "
                                  "named symbols, search attached research notes and analyse attached CSV or JSON files.")
    answer["insights"] = _errors(outputs) + answer["insights"] + [ENGINE_NOTE]
    answer["extra"] = {"citations": citations, "image_file_ids": images, **({"code": code} if code else {}),
                       "files": [{"file_id": f["file_id"], "filename": f["filename"], "kind": f["kind"]} for f in files]}
    return answer


def _search_insights(out: dict, answer: dict, citations: list) -> None:
    results = out.get("results", [])
    if out.get("source", "").startswith("qlwork sample"):
        answer["insights"].append(f"No searchable files are attached here, so I searched the {out['source']}.")
    if not results:
        answer["insights"].append(f"file_search found no passage matching {out.get('query')!r} in "
                                  f"{', '.join(out.get('files_searched', [])) or 'the attached files'}.")
    for r in results[:4]:
        answer["insights"].append(f"\"{r['quote']}\" {r['citation']}")
        citations.append({k: r[k] for k in ("file_id", "filename", "page", "score", "citation")})
    for f in out.get("files_not_searchable", []):
        answer["insights"].append(f"{f['filename']} could not be searched: {f['error']}")


def _code_insights(out: dict, answer: dict, citations: list) -> None:
    data = _stdout_json(out) or {}
    source = ", ".join(f["filename"] for f in out.get("files", []))  # the files this call asked for
    cite = f" [{source}]" if source else " [code_interpreter]"
    if out.get("status") != "ok":
        exc = out.get("exception") or {}
        answer["insights"].append(f"The calculation did not finish ({out.get('status')}): "
                                  f"{exc.get('ename', '')}: {exc.get('evalue', '')} {' '.join(out.get('notes', []))}".strip())
        return
    for f in out.get("files", []):
        citations.append({"file_id": f["file_id"], "filename": f["filename"], "page": None, "citation": f"[{f['filename']}]"})
    kind = data.get("analysis") or data.get("content")
    if kind == "correlation":
        a, b = data["symbols"][:2]
        answer["insights"].append(f"Correlation of {a} and {b} daily returns over {data.get('period')} "
                                  f"({data['start']} to {data['end']}, {data.get('days')} days): {data['correlation']}{cite}.")
        answer["insights"].append(f"From {data.get('rolling_start')} to {data['end']} the rolling {data['window_days']}-day correlation ranged "
                                  f"from {data['rolling_min']} to {data['rolling_max']} (chart attached as an image).")
        answer["risk_metrics"]["correlation"] = data["correlation"]
    elif kind == "rsi":
        answer["insights"].append(f"{data['symbol']} {data['window_days']}-day RSI on {data['end']}: {data['rsi']} "
                                  f"({data['method']}, {data.get('bars')} daily bars){cite}."
                                  + (f" Chart from {data['plotted_from']} attached as an image." if data.get("plotted_from") else ""))
    elif kind == "volatility":
        vols = ", ".join(f"{k} {v}" for k, v in data["annualised_volatility"].items())
        answer["insights"].append(f"Annualised volatility over {data['window_days']} days to {data['end']}: {vols}{cite}.")
    elif kind == "earnings":
        m = data.get("ranked_by")
        answer["analysis_type"] = "earnings_analysis"
        answer["insights"].append(f"{data['filename']} is a valid earnings table: {data['rows']} rows for "
                                  f"{', '.join(data['symbols'])}, period {', '.join(data['periods'])}{cite}.")
        if m:
            top = ", ".join(f"{r['symbol']} {r[m]}" for r in data["top"])
            low = ", ".join(f"{r['symbol']} {r[m]}" for r in data["bottom"])
            answer["insights"].append(f"Highest {m}: {top}; lowest: {low}; average {data['mean']}{cite}.")
    elif kind == "portfolio":
        answer["insights"].append(f"{data['filename']} is a valid portfolio with {data['holdings']} holdings "
                                  f"({', '.join(data['symbols'])}){cite}. Ask 'Analyze my portfolio' for a full review.")
    elif "width" in data:
        answer["analysis_type"] = "image"
        answer["insights"].append(f"{source or 'The image'} is a {data['width']}x{data['height']} {data['format']} "
                                  f"image{cite}. {NO_VISION}")
    elif data:
        answer["insights"].append(f"{data.get('filename', 'The file')} holds a table with {data.get('rows', 'n/a')} rows "
                                  f"and columns {', '.join(data.get('columns', []) or [])}{cite}.")
    elif out.get("stdout") or out.get("result"):
        answer["insights"].append(f"Output: {(out.get('stdout') or out.get('result'))[:500]}{cite}")


def files_step(intent: Intent, text: str, inp: ModelInput, available: set[str]) -> ToolCalls | FinalMessage:
    """The offline engine's step for a files / code request."""
    files = _attachments(inp)
    if not inp.run_items:
        calls = plan_files(intent, text, inp, available)
        if calls:
            return ToolCalls([ToolCallRequest(id=f"call_offline_{inp.turn}_{i}", name=name,
                                              arguments=json.dumps(args, sort_keys=True))
                              for i, (name, args) in enumerate(calls)])
    outputs = []
    for req, out in inp.run_items:
        try:
            outputs.append((req.name, json.loads(req.arguments), json.loads(out)))
        except (TypeError, ValueError):
            outputs.append((req.name, {}, {"error": {"message": str(out)}}))
    answer = compose_files(intent, text, outputs, files, (inp.thread.metadata or {}).get("provider", "demo"))
    if not outputs and any(f["kind"] in ("png", "jpeg") for f in files):
        answer["insights"].insert(0, NO_VISION)
    return FinalMessage(json.dumps(answer, ensure_ascii=False))
