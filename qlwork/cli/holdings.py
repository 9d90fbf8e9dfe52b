"""``qlwork holdings`` (how a holdings file loads: what is valued, what is left out and why), ``qlwork
trades`` (what a tradebook earned: lots, gains, XIRR, time-weighted return vs a benchmark) and ``qlwork
funds`` (mutual funds from a CAS PDF or Kite)."""

from __future__ import annotations

import argparse
import json

EXAMPLES = {
    "funds": ["QLWORK_CAS_PASSWORD=ABCDE1234F qlwork funds --cas cas.pdf", "qlwork funds --kite --user asha"],
    "holdings": ["qlwork holdings holdings.csv", "qlwork holdings console-holdings.xlsx --json"],
    "trades": ["qlwork trades tradebook.csv", "qlwork trades tradebook.csv --holdings holdings.csv "
               "--benchmark 'NIFTY 500' --start 2024-04-01"],
}


def cmd_holdings(args: argparse.Namespace) -> int:
    from ..market import priceable_symbols, resolve_provider
    from ..portfolio import load_portfolio

    market = resolve_provider(args.provider, args.user)
    pf = load_portfolio(args.file, known_symbols=priceable_symbols(market))
    without = pf.metadata.get("symbols_without_data") or []
    if args.json:
        print(json.dumps({"name": pf.name, "layout": pf.metadata.get("layout"), "holdings": pf.to_records(),
                          "symbols_without_data": without}, indent=2, default=str))
        return 0
    print(f"{pf.name}: {len(pf)} holdings ({pf.metadata.get('layout', pf.metadata.get('format'))} layout), "
          f"{len(without)} left out.")
    for h in pf.holdings:
        price = h.last_price or h.close_price
        shown = f"  file price {price:>12,.2f}" if price else ""
        print(f"  {h.exchange}:{h.tradingsymbol:<14} {h.quantity:>8}  avg {h.average_price:>12,.2f}{shown}")
    for w in without:
        print(f"  left out: {w['symbol']} (row {w.get('row')}): {w['reason']}")
    return 0


def cmd_trades(args: argparse.Namespace) -> int:
    from .. import trade_history

    report = trade_history(args.tradebook, holdings=args.holdings, provider=args.provider, user_id=args.user,
                           as_of=args.as_of, start=args.start, benchmark=args.benchmark)
    if args.json:
        print(json.dumps(report, indent=2, default=str))
        return 0
    tw = report["time_weighted"]
    synthetic = " (synthetic demo prices)" if report["data_source"]["synthetic"] else ""
    print(f"{report['trades']} trades from {report['first_trade']} to {report['as_of']}{synthetic}: value INR "
          f"{report['value']:,.2f}; XIRR {report['xirr']}; time-weighted {tw['portfolio']} vs "
          f"{report['benchmark']} {tw['benchmark']} since {tw['start']}.")
    for p in report["positions"]:
        print(f"  {p['symbol']:<14} qty {p['quantity']:>6}  unrealised {p['unrealised_pnl']:>12,.2f}  "
              f"realised {p['realised_pnl']:>12,.2f}  XIRR {p['xirr']}")
    for year, g in report["gains_by_year"].items():
        print(f"  {year}: short-term {g['short_term']:,.2f}, long-term {g['long_term']:,.2f} "
              f"(estimated tax {g['stcg_tax'] + g['ltcg_tax']:,.2f} before surcharge and cess)")
    for d in (report.get("reconciliation") or {}).get("differences", []):
        print(f"  differs: {d['symbol']} tradebook {d['implied']} vs held {d['held']}: {d['explanation']}")
    for w in report.get("symbols_without_data", []):
        print(f"  left out: {w['symbol']}: {w['reason']}")
    return 0


def cmd_funds(args: argparse.Namespace) -> int:
    from ..errors import InputError
    from ..portfolio.funds import load_cas

    if bool(args.cas) == bool(args.kite):
        raise InputError("Give either --cas FILE or --kite.", fix="e.g. qlwork funds --cas cas.pdf")
    if args.cas:
        funds = load_cas(args.cas)
    else:
        from ..market import resolve_provider

        funds = resolve_provider("kite", args.user).mf_portfolio()
    if args.json:
        print(json.dumps({"name": funds.name, "source": funds.source, "value": round(funds.value, 2),
                          "category_weights": funds.category_weights(), "funds": funds.to_records(),
                          "metadata": funds.metadata}, indent=2, default=str))
        return 0
    print(f"{funds.name} ({funds.source}): {len(funds.funds)} funds worth INR {funds.value:,.2f}.")
    for f in funds.funds:
        print(f"  {f.scheme[:60]:<60} {f.category:<7} {f.units:>12,.3f} units x {f.nav:>10,.4f} = {f.value:>14,.2f}")
    return 0


def _provider_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--provider", default=None, help="market data: demo (synthetic, default) or kite")
    p.add_argument("--user", default=None, help="user whose Kite login prices the holdings (with --provider kite)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")


def register_holdings(sub) -> None:
    p = sub.add_parser("funds", help="mutual fund holdings from a CAS PDF (password from QLWORK_CAS_PASSWORD or "
                                     "a prompt, never stored) or from Kite (read-only)")
    p.add_argument("--cas", default=None, help="CAMS / KFintech / NSDL / CDSL Consolidated Account Statement PDF")
    p.add_argument("--kite", action="store_true", help="read the Kite account's mutual fund holdings")
    p.add_argument("--user", default=None, help="user whose Kite login to use (with --kite)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=cmd_funds)
    p = sub.add_parser("holdings", help="load a holdings file (Kite/Console CSV or XLSX, JSON) and say what "
                                        "is valued and what is left out, with reasons")
    p.add_argument("file", help="holdings file: .csv, .xlsx or .json")
    _provider_args(p)
    p.set_defaults(func=cmd_holdings)
    p = sub.add_parser("trades", help="what a tradebook earned: FIFO lots, gains per financial year, XIRR, "
                                      "time-weighted return vs a benchmark")
    p.add_argument("tradebook", help="Zerodha Console tradebook CSV, or date,symbol,side,quantity,price CSV")
    p.add_argument("--holdings", default=None, help="holdings file to reconcile the tradebook with")
    p.add_argument("--as-of", default=None, help="valuation date YYYY-MM-DD (default: the latest data date)")
    p.add_argument("--start", default=None, help="start of the time-weighted return (default: the first trade)")
    p.add_argument("--benchmark", default=None, help='benchmark index, e.g. "NIFTY 500" (default: NIFTY 50)')
    _provider_args(p)
    p.set_defaults(func=cmd_trades)
