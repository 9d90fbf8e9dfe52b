"""The demo universe (synthetic): symbols, company names, factor groups, price levels, NIFTY weights, caps,
and the per-group factor parameters the generator in :mod:`.demo` draws from.

Levels are approximate INR prices at the demo as-of date; NIFTY weights are in percent (0: not in
the index). Nothing here is real market data. The factor group (third field) only shapes the synthetic
returns (stocks of a group share a factor); the sector a symbol is labelled with everywhere is NSE's
industry name from the bundled NIFTY 500 list (:mod:`.sectors`), the same vocabulary as live data.
"""

from __future__ import annotations

# symbol, company name, factor group, approximate price at DEMO_AS_OF (INR), NIFTY weight (%) or 0, cap
UNIVERSE: tuple[tuple[str, str, str, float, float, str], ...] = (
    ("TCS", "TATA CONSULTANCY SERVICES", "IT", 3150.0, 3.0, "large"),
    ("INFY", "INFOSYS", "IT", 1560.0, 5.0, "large"),
    ("WIPRO", "WIPRO", "IT", 255.0, 0.7, "large"),
    ("HCLTECH", "HCL TECHNOLOGIES", "IT", 1620.0, 1.6, "large"),
    ("TECHM", "TECH MAHINDRA", "IT", 1480.0, 0.9, "large"),
    ("LTIM", "LTIMINDTREE", "IT", 5650.0, 0.5, "large"),
    ("HDFCBANK", "HDFC BANK", "Banks", 985.0, 13.0, "large"),
    ("ICICIBANK", "ICICI BANK", "Banks", 1390.0, 8.5, "large"),
    ("SBIN", "STATE BANK OF INDIA", "Banks", 915.0, 3.0, "large"),
    ("KOTAKBANK", "KOTAK MAHINDRA BANK", "Banks", 2140.0, 2.7, "large"),
    ("AXISBANK", "AXIS BANK", "Banks", 1215.0, 3.0, "large"),
    ("INDUSINDBK", "INDUSIND BANK", "Banks", 790.0, 0.5, "large"),
    ("RELIANCE", "RELIANCE INDUSTRIES", "Energy", 1510.0, 8.5, "large"),
    ("ONGC", "OIL AND NATURAL GAS CORPORATION", "Energy", 245.0, 0.8, "large"),
    ("NTPC", "NTPC", "Energy", 335.0, 1.4, "large"),
    ("POWERGRID", "POWER GRID CORPORATION OF INDIA", "Energy", 285.0, 1.1, "large"),
    ("BPCL", "BHARAT PETROLEUM CORPORATION", "Energy", 350.0, 0.6, "large"),
    ("COALINDIA", "COAL INDIA", "Energy", 385.0, 0.8, "large"),
    ("ITC", "ITC", "FMCG", 405.0, 3.5, "large"),
    ("HINDUNILVR", "HINDUSTAN UNILEVER", "FMCG", 2420.0, 2.0, "large"),
    ("NESTLEIND", "NESTLE INDIA", "FMCG", 1245.0, 0.8, "large"),
    ("BRITANNIA", "BRITANNIA INDUSTRIES", "FMCG", 5850.0, 0.5, "large"),
    ("TATACONSUM", "TATA CONSUMER PRODUCTS", "FMCG", 1160.0, 0.6, "large"),
    ("MARUTI", "MARUTI SUZUKI INDIA", "Auto", 15900.0, 1.6, "large"),
    ("TATAMOTORS", "TATA MOTORS", "Auto", 690.0, 1.3, "large"),
    ("M&M", "MAHINDRA & MAHINDRA", "Auto", 3580.0, 2.5, "large"),
    ("BAJAJ-AUTO", "BAJAJ AUTO", "Auto", 8900.0, 0.9, "large"),
    ("EICHERMOT", "EICHER MOTORS", "Auto", 6950.0, 0.8, "large"),
    ("HEROMOTOCO", "HERO MOTOCORP", "Auto", 5450.0, 0.5, "large"),
    ("SUNPHARMA", "SUN PHARMACEUTICAL INDUSTRIES", "Pharma", 1710.0, 1.7, "large"),
    ("DRREDDY", "DR. REDDY'S LABORATORIES", "Pharma", 1260.0, 0.6, "large"),
    ("CIPLA", "CIPLA", "Pharma", 1540.0, 0.7, "large"),
    ("DIVISLAB", "DIVI'S LABORATORIES", "Pharma", 6350.0, 0.5, "large"),
    ("APOLLOHOSP", "APOLLO HOSPITALS ENTERPRISE", "Pharma", 7450.0, 0.7, "large"),
    ("TATASTEEL", "TATA STEEL", "Metals", 172.0, 1.1, "large"),
    ("JSWSTEEL", "JSW STEEL", "Metals", 1140.0, 0.8, "large"),
    ("HINDALCO", "HINDALCO INDUSTRIES", "Metals", 815.0, 0.9, "large"),
    ("BAJFINANCE", "BAJAJ FINANCE", "Financial Services", 1020.0, 2.2, "large"),
    ("BAJAJFINSV", "BAJAJ FINSERV", "Financial Services", 2030.0, 0.9, "large"),
    ("HDFCLIFE", "HDFC LIFE INSURANCE", "Financial Services", 765.0, 0.7, "large"),
    ("SBILIFE", "SBI LIFE INSURANCE", "Financial Services", 1920.0, 0.7, "large"),
    ("LT", "LARSEN & TOUBRO", "Infrastructure", 3920.0, 4.0, "large"),
    ("ULTRACEMCO", "ULTRATECH CEMENT", "Infrastructure", 11900.0, 1.2, "large"),
    ("GRASIM", "GRASIM INDUSTRIES", "Infrastructure", 2780.0, 0.9, "large"),
    ("ADANIPORTS", "ADANI PORTS AND SEZ", "Infrastructure", 1460.0, 0.9, "large"),
    ("BHARTIARTL", "BHARTI AIRTEL", "Telecom", 2060.0, 4.5, "large"),
    ("TITAN", "TITAN COMPANY", "Consumer", 3720.0, 1.3, "large"),
    ("ASIANPAINT", "ASIAN PAINTS", "Consumer", 2480.0, 1.0, "large"),
    ("TRENT", "TRENT", "Consumer", 4650.0, 0.9, "large"),
    ("SUZLON", "SUZLON ENERGY", "Small Cap", 56.0, 0.0, "small"),
    ("IRFC", "INDIAN RAILWAY FINANCE CORPORATION", "Small Cap", 128.0, 0.0, "small"),
    ("YESBANK", "YES BANK", "Small Cap", 21.5, 0.0, "small"),
    ("RVNL", "RAIL VIKAS NIGAM", "Small Cap", 335.0, 0.0, "small"),
    ("HFCL", "HFCL", "Small Cap", 78.0, 0.0, "small"),
    ("NBCC", "NBCC (INDIA)", "Small Cap", 112.0, 0.0, "small"),
    ("LIQUIDBEES", "NIPPON INDIA ETF NIFTY 1D RATE LIQUID BEES", "Liquid ETF", 1000.0, 0.0, "etf"),
)

# factor group -> (beta to market, group-factor daily vol, idiosyncratic daily vol, annual alpha)
SECTOR_PARAMS: dict[str, tuple[float, float, float, float]] = {
    "IT": (0.80, 0.0075, 0.0110, 0.010),
    "Banks": (1.15, 0.0070, 0.0105, 0.000),
    "Energy": (0.90, 0.0065, 0.0115, -0.005),
    "FMCG": (0.60, 0.0055, 0.0095, 0.005),
    "Auto": (1.05, 0.0070, 0.0120, 0.005),
    "Pharma": (0.60, 0.0075, 0.0120, 0.000),
    "Metals": (1.30, 0.0100, 0.0140, -0.010),
    "Financial Services": (1.20, 0.0075, 0.0125, 0.010),
    "Infrastructure": (1.05, 0.0065, 0.0115, 0.005),
    "Telecom": (0.80, 0.0060, 0.0120, 0.010),
    "Consumer": (0.90, 0.0060, 0.0120, 0.010),
    "Small Cap": (1.35, 0.0120, 0.0240, 0.000),
    "Liquid ETF": (0.00, 0.0, 0.0, 0.0),
}
