"""``qlwork db``: schema upgrades and the SQLite -> PostgreSQL copy."""

from __future__ import annotations

import argparse

from ..db import URL_ENV, database_url
from ..errors import InputError


def _open(target: str | None):
    from ..assistant.store import Store
    from ..server.keys import ensure_tables
    store = Store(target) if target else Store(url=database_url()) if database_url() else Store()
    ensure_tables(store)  # the server's key and ownership tables live in the same database
    return store


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    store = _open(args.database)
    print(f"{store.db.describe()}: schema version {store.schema_version} (up to date)")
    store.close()
    return 0


def cmd_db_migrate(args: argparse.Namespace) -> int:
    from ..assistant.store.dbcopy import copy_store
    from ..config import home
    target = args.to or database_url()
    if not target or not target.startswith(("postgresql://", "postgres://")):
        raise InputError("No PostgreSQL database to copy into.",
                         fix=f"Pass --to postgresql://... or set {URL_ENV}.", code="invalid_database_url")
    source_path = args.source or str(home() / "qlwork.db")
    from pathlib import Path
    if not Path(source_path).is_file():
        raise InputError(f"No SQLite store at {source_path}.", fix="Pass --from PATH.", code="not_found")
    source, dest = _open(source_path), _open(target)
    try:
        report = copy_store(source, dest)
    finally:
        source.close(), dest.close()
    for table, info in report.items():
        print(f"{table:20} {info['rows']:>9} rows  sha256 {info['sha256'][:16]}  verified")
    print(f"copied {source_path} into {dest.db.describe()}")
    return 0


def register_db(sub) -> argparse.ArgumentParser:
    """Add ``qlwork db`` to the CLI's subparsers."""
    db = sub.add_parser("db", help=f"the store's database: SQLite under QLWORK_HOME, or PostgreSQL ({URL_ENV})")
    dsub = db.add_subparsers(dest="db_command", required=True)
    p = dsub.add_parser("upgrade", help="apply pending schema migrations (servers also do this at start)")
    p.add_argument("--database", default=None,
                   help=f"postgresql:// URL or SQLite file (default: {URL_ENV}, else $QLWORK_HOME/qlwork.db)")
    p.set_defaults(func=cmd_db_upgrade)
    p = dsub.add_parser("migrate-from-sqlite", help="copy a SQLite store into an empty PostgreSQL database, "
                                                    "verified by row counts and SHA-256 checksums")
    p.add_argument("--from", dest="source", default=None, help="SQLite file (default: $QLWORK_HOME/qlwork.db)")
    p.add_argument("--to", default=None, help=f"postgresql:// URL (default: {URL_ENV})")
    p.set_defaults(func=cmd_db_migrate)
    return db
