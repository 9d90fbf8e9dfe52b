"""Weekly per-user reports: run ``notebooks/portfolio_review.ipynb`` once per user and write

``<output_dir>/<as_of>/<user_id>/portfolio_review.ipynb`` and ``.html``, ``<as_of>/index.html`` and
``<as_of>/manifest.json`` (DESIGN.md section 5).

Users and their preferences come from a TOML config (default: the sample users in
``qlwork/data/users.toml``). Jobs run in a local thread pool (``executor="local"``) or on a Dask
cluster (``executor="dask"``); each job is :func:`qlwork.reports.job.run_user_job`. One user's failure
never stops the others: a job that crashes (an exception escaping the job, a Dask ``KilledWorker``, a
lost connection) becomes a failed outcome for that user with a placeholder notebook and HTML naming
the error, the batch goes on, and the result is not ``ok``. Re-running the same ``as_of`` skips users
whose inputs hash is unchanged and whose last report succeeded (unless ``force``); the hash covers the
parameters, the notebook, the portfolio file and, for model-backed users, the merged BYOAI preferences
the review will use (env var *names* only). Every file is written atomically (temp file, then rename),
and the manifest and index are rewritten after each finished user.

Dask across machines: each job carries the client's absolute ``QLWORK_HOME`` (the assistant store
with last week's threads, and saved AI preferences) and the users' portfolio paths. Workers on other
machines need the same ``QLWORK_HOME`` and portfolio files at the same paths on a shared filesystem
(e.g. an NFS mount); a job whose ``QLWORK_HOME`` is missing on its worker fails that user with an error
saying so instead of starting an empty store there. With ``QLWORK_DATABASE_URL`` set, jobs carry the
database's redacted URL instead and workers use their own homes (docs/store.md). The notebook text goes with the job and the
outputs come back to the client, so the output directory need not be shared.

Declared run-specific values (everything else is a function of the inputs): in the manifest the keys
in :data:`VOLATILE_FIELDS`; in HTML, ``<span class="qlwork-volatile">`` elements; in notebooks, the
parts masked by :func:`qlwork.reports.job.mask_volatile_notebook`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import os
import sys
from concurrent.futures import CancelledError
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .. import __version__
from ..config import BENCHMARK, check_user_id, home, read_toml
from ..errors import InputError
from ..fileio import atomic_write
from .job import job_env, run_user_job
from .kernels import BatchRuntime
from .users_file import user_entries

DEFAULT_USERS = Path(__file__).resolve().parents[1] / "data" / "users.toml"
NOTEBOOK_NAME = "portfolio_review.ipynb"
VOLATILE_FIELDS = ("generated_at", "started_at", "finished_at", "duration_s", "timings", "thread_id", "run_id",
                   "previous_thread_id", "ran_at")
USER_KEYS = ("user_id", "portfolio", "risk_profile", "horizon", "benchmark", "provider", "preferred_ai_provider",
             "model", "base_url", "api_key_env", "timeout", "max_retries")
#: preference fields that do not change a report (which thread/assistant a chat session continues)
_PREFS_NOT_HASHED = {"thread_id", "assistant_id"}


def default_notebook() -> Path:
    """The review notebook: ``notebooks/portfolio_review.ipynb`` next to the package, else in the cwd."""
    beside = Path(__file__).resolve().parents[2] / "notebooks" / NOTEBOOK_NAME
    return beside if beside.exists() else Path("notebooks") / NOTEBOOK_NAME


@dataclass(frozen=True)
class UserConfig:
    """One user's report settings (no secrets: ``api_key_env`` is an env var *name*)."""

    user_id: str
    portfolio: str
    risk_profile: str = "moderate"
    horizon: str = "medium"
    benchmark: str = BENCHMARK
    provider: str = "demo"
    preferred_ai_provider: str = "offline"
    model: str | None = None
    base_url: str | None = None
    api_key_env: str | None = None
    timeout: float | None = None  # BYOAI per-user settings (issue 6); None: the saved preference
    max_retries: int | None = None

    def __post_init__(self) -> None:
        check_user_id(self.user_id)  # the user's report folder is named after it

    def parameters(self, as_of: str) -> dict:
        """The notebook's papermill parameters (plain text in the output: never a secret).
        ``timeout`` / ``max_retries`` appear only when the user sets them."""
        params = {"user_id": self.user_id, "as_of": as_of, "portfolio": self.portfolio,
                  "risk_profile": self.risk_profile, "horizon": self.horizon, "benchmark": self.benchmark,
                  "provider": self.provider, "backend": self.preferred_ai_provider, "model": self.model,
                  "base_url": self.base_url, "api_key_env": self.api_key_env}
        params.update({k: v for k, v in (("timeout", self.timeout), ("max_retries", self.max_retries))
                       if v is not None})
        return params

    def preferences(self) -> dict | None:
        """The BYOAI preferences the review will use (saved preferences merged with this config, as
        :func:`qlwork.review.effective_preferences` does; no secrets), or None for the offline engine."""
        if self.preferred_ai_provider == "offline":
            return None
        from ..review.weekly import effective_preferences

        try:
            prefs = effective_preferences(self.user_id, self.preferred_ai_provider, self.model, self.base_url,
                                          self.api_key_env, timeout=self.timeout, max_retries=self.max_retries)
        except Exception as exc:  # noqa: BLE001 - invalid preferences fail in the notebook, clearly
            return {"invalid": type(exc).__name__}
        return prefs.model_dump(mode="json", exclude=_PREFS_NOT_HASHED)


def _provider(path: Path, i: int, entry: dict) -> str:
    """A user's ``provider`` (``demo`` | ``kite``), checked: ``portfolio = "kite"`` needs ``kite``."""
    from ..market import PROVIDERS

    name = str(entry.get("provider") or "demo").strip().lower()
    who = f"{path}: user #{i + 1} ({entry.get('user_id')})"
    if name not in PROVIDERS:
        raise InputError(f"{who} has unknown provider {entry.get('provider')!r}.",
                         fix=f"Use one of: {', '.join(sorted(PROVIDERS))}.", field="provider")
    if str(entry.get("portfolio")).strip().lower() == "kite" and name != "kite":
        raise InputError(f'{who} has portfolio "kite" but provider {name!r}.',
                         fix='Set provider = "kite" for that user (after `qlwork kite login --user ID`).',
                         field="provider")
    return name


def load_users(config: str | os.PathLike | None = None, users: list[str] | None = None) -> list[UserConfig]:
    """Users from ``config`` (``[defaults]`` + ``[[users]]`` or ``[users.<id>]``, or the same under ``[reports]``), in file
    order, optionally only ``users``. Relative portfolio paths are resolved against the config file."""
    path = Path(config) if config else DEFAULT_USERS
    data = read_toml(path)
    data = data.get("reports", data) if "users" not in data else data
    defaults = dict(data.get("defaults") or {})
    out: list[UserConfig] = []
    for i, raw in enumerate(user_entries(path, data.get("users"))):
        entry = {**defaults, **raw}
        unknown = sorted(set(entry) - set(USER_KEYS))
        if unknown or not entry.get("user_id") or not entry.get("portfolio"):
            raise InputError(f"{path}: user #{i + 1} is invalid (unknown keys {unknown}, user_id and portfolio "
                             "are required).", fix=f"Use only: {', '.join(USER_KEYS)}.")
        check_user_id(entry["user_id"], field=f"{path}: user #{i + 1} user_id")  # it names the output folder
        entry["provider"] = _provider(path, i, entry)
        src = str(entry["portfolio"])
        if not src.startswith("sample:") and src != "kite" and not Path(src).is_absolute():
            candidate = path.parent / src
            if candidate.exists() and not Path(src).exists():
                entry["portfolio"] = str(candidate)
        out.append(UserConfig(**entry))
    if not out:
        raise InputError(f"{path} defines no users.", fix="Add [[users]] tables with user_id and portfolio.")
    ids = [u.user_id for u in out]
    if len(set(ids)) != len(ids):
        raise InputError(f"{path}: duplicate user_id.", fix="Give every user a unique user_id.")
    if users:
        missing = sorted(set(users) - set(ids))
        if missing:
            raise InputError(f"Unknown users {missing} (not in {path}).", fix=f"Known users: {', '.join(ids)}.")
        out = [u for u in out if u.user_id in set(users)]
    return out


def inputs_hash(params: dict, notebook_text: str, preferences: dict | None = None) -> str:
    """sha256 of everything that determines a report: parameters, notebook, qlwork version, the
    portfolio file's content when the portfolio is a file, and the merged AI ``preferences`` of a
    model-backed user (see :meth:`UserConfig.preferences`; env var names, never keys)."""
    h = hashlib.sha256()
    basis = {"parameters": params, "qlwork": __version__}
    if preferences is not None:
        basis["preferences"] = preferences
    h.update(json.dumps(basis, sort_keys=True).encode())
    h.update(hashlib.sha256(notebook_text.encode()).digest())
    pf = Path(str(params.get("portfolio")))
    if pf.is_file():
        h.update(hashlib.sha256(pf.read_bytes()).digest())
    return h.hexdigest()


@dataclass
class BatchResult:
    """What a batch did. ``entries``: manifest entry per user (config order)."""

    as_of: str
    directory: Path
    entries: dict[str, dict]
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    @property
    def failed(self) -> list[str]:
        return [u for u, e in self.entries.items() if e.get("status") != "ok"]

    @property
    def ok(self) -> bool:
        return not self.failed

    @property
    def index_path(self) -> Path:
        return self.directory / "index.html"

    @property
    def manifest_path(self) -> Path:
        return self.directory / "manifest.json"

    def summary(self) -> str:
        lines = [f"reports {self.as_of}: {len(self.ran)} ran, {len(self.skipped)} skipped (unchanged), "
                 f"{len(self.failed)} failed; index: {self.index_path}"]
        lines += [f"  FAILED {u}: {self.entries[u].get('error')}" for u in self.failed]
        return "\n".join(lines)


def _job(user: UserConfig, as_of: str, notebook_text: str, notebook_path: str, kernel_name: str,
         timeout: float, qlwork_home: str, formats: tuple[str, ...] = ("html",)) -> dict:
    return {"user_id": user.user_id, "notebook": notebook_text, "parameters": user.parameters(as_of),
            "formats": list(formats),
            "kernel_name": kernel_name, "execution_timeout": timeout, "input_path": notebook_path,
            "output_path": f"{as_of}/{user.user_id}/{NOTEBOOK_NAME}", "env": job_env(qlwork_home),
            "title": f"Portfolio review {user.user_id} {as_of}"}


def _entry(outcome: dict, user: UserConfig, as_of: str, digest: str, executor: str) -> dict:
    res = outcome.get("result") or {}
    vol = outcome.get("volatile") or {}
    stem = f"{user.user_id}/{NOTEBOOK_NAME[:-6]}"
    return {"user_id": user.user_id, "status": outcome["status"], "error": outcome.get("error"),
            "inputs_hash": digest, "parameters": user.parameters(as_of), "notebook": f"{stem}.ipynb",
            "html": f"{stem}.html", "pdf": f"{stem}.pdf" if outcome.get("pdf") else None,
            "xlsx": f"{stem}.xlsx" if outcome.get("xlsx") else None, "overall_score": res.get("overall_score"), "risk_level": res.get("risk_level"),
            "total_value": res.get("total_value"), "synthetic": res.get("synthetic"), "executor": executor,
            "return_1w": ((res.get("returns") or {}).get("1W") or {}).get("portfolio"),
            "score_change": ((res.get("change") or {}).get("score") or {}).get("delta"),
            "started_at": outcome.get("started_at"), "finished_at": outcome.get("finished_at"),
            "duration_s": outcome.get("duration_s"), "timings": outcome.get("timings"),
            "thread_id": vol.get("thread_id"), "run_id": vol.get("run_id"),
            "previous_thread_id": vol.get("previous_thread_id")}


def _load_manifest(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


@contextlib.contextmanager
def _manifest_lock(directory: Path):
    """An exclusive lock on the dated folder's manifest (``.manifest.lock``, ``flock``): batches on the
    same day, in any process, update manifest and index one at a time."""
    fd = os.open(directory / ".manifest.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _write_outputs(directory: Path, as_of: str, mine: dict[str, dict], order: list[str]) -> dict[str, dict]:
    """Merge this batch's entries (``mine``: the users it ran) into the manifest on disk, under the
    lock, and rewrite manifest and index; returns every user's entry. Another batch's users on the same
    day stay (and keep the entries that batch wrote, even if it finished after this one started)."""
    from .index import index_html

    with _manifest_lock(directory):
        on_disk = _load_manifest(directory / "manifest.json").get("users", {})
        merged = {**on_disk, **mine}  # config order, then users from other configs by id: the same
        ordered = {u: merged[u] for u in order if u in merged}  # whichever batch writes last
        ordered.update({u: merged[u] for u in sorted(merged) if u not in ordered})
        manifest = {"as_of": as_of, "qlwork_version": __version__, "generated_at": _now(),
                    "volatile_fields": list(VOLATILE_FIELDS), "users": ordered,
                    "summary": {"total": len(ordered), "ok": sum(e["status"] == "ok" for e in ordered.values()),
                                "failed": sum(e["status"] != "ok" for e in ordered.values())}}
        atomic_write(directory / "manifest.json", json.dumps(manifest, indent=2, sort_keys=False) + "\n")
        atomic_write(directory / "index.html", index_html(as_of, ordered, manifest["generated_at"]))
    return ordered


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()


def _crashed(job: dict, exc: BaseException, executor: str) -> dict:
    """A failed outcome for a job that raised instead of returning (crashed or lost worker)."""
    from ..redaction import redact
    from .job import failed_outcome

    text = redact(f"{type(exc).__name__}: {exc}".strip().rstrip(":"))
    return failed_outcome(job, f"The report job crashed on the {executor} executor ({text}); the other users "
                               "were not affected.")


def _outcome(fut, job: dict, executor: str) -> dict:
    try:
        return fut.result()
    except (Exception, CancelledError) as exc:  # noqa: BLE001 - one user's crash is that user's failure
        return _crashed(job, exc, executor)


def _local(jobs: list[dict], workers: int, runtime):
    from .kernels import run_local

    yield from run_local(jobs, workers, runtime, lambda job, exc: _crashed(job, exc, "local"), runner=run_user_job)


def _dask(jobs: list[dict], workers: int, scheduler: str | None):
    from distributed import Client, LocalCluster
    from distributed import as_completed as dask_completed

    cluster = None if scheduler else LocalCluster(n_workers=1, threads_per_worker=max(1, workers), processes=False,
                                                  dashboard_address=None)
    client = Client(scheduler) if scheduler else Client(cluster)
    try:
        futures = {client.submit(run_user_job, job, key=f"qlwork-report-{job['user_id']}-{os.urandom(4).hex()}",
                                 pure=False): job for job in jobs}
        done: set[str] = set()
        try:
            for fut in dask_completed(list(futures)):
                done.add(fut.key)
                yield _outcome(fut, futures[fut], "dask")
        except Exception as exc:  # noqa: BLE001 - lost the scheduler: the unfinished users fail, with the reason
            for fut, job in futures.items():
                if fut.key not in done:
                    yield _crashed(job, exc, "dask")
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def run_batch(as_of, users: list[str] | None = None, workers: int | None = None, config: str | None = None,
              executor: str = "local", scheduler: str | None = None, force: bool = False,
              output_dir: str | os.PathLike = "reports", notebook: str | os.PathLike | None = None,
              kernel_name: str = "python3", timeout: float = 600, progress: bool = True,
              on_result: Callable[[dict], Any] | None = None, formats=("html",)) -> BatchResult:
    """Run the weekly review for every configured user as of ``as_of``; see the module docstring.

    ``formats``: ``html`` (always written) and optionally ``pdf`` (``portfolio_review.pdf`` per user,
    printed by the system Chromium; see :mod:`qlwork.reports.pdf`) and ``xlsx`` (``portfolio_review.xlsx``,
    :mod:`qlwork.reports.xlsx`). A user whose last report lacks a
    requested format is run again.

    ``workers`` defaults to the number of CPU cores. Returns a :class:`BatchResult` (``.ok`` is False
    if any user failed); never raises for one user's failure.
    """
    from tqdm.auto import tqdm

    from ..market.as_of import check_as_of

    day = check_as_of(as_of).requested.isoformat()  # a future date is refused before any kernel starts
    if executor not in ("local", "dask"):
        raise InputError(f"Unknown executor {executor!r}.", fix="Use local or dask.")
    formats = tuple(dict.fromkeys(["html", *(f.strip().lower() for f in
                                             (formats.split(",") if isinstance(formats, str) else formats))]))
    if set(formats) - {"html", "pdf", "xlsx"}:
        raise InputError(f"Unknown report format(s) {sorted(set(formats) - {'html', 'pdf', 'xlsx'})}.",
                         fix="Use --format html, html,pdf or html,pdf,xlsx.")
    people = load_users(config, users)
    if any(u.provider == "demo" for u in people):  # a date before the demo data: said once, not per user
        from ..market.demo import DemoMarketData

        check_as_of(day, DemoMarketData())
    nb_path = Path(notebook) if notebook else default_notebook()
    if not nb_path.exists():
        raise InputError(f"Review notebook {nb_path} not found.", fix="Pass notebook= or run from the project root.")
    nb_text = nb_path.read_text(encoding="utf-8")
    directory = Path(output_dir) / day
    directory.mkdir(parents=True, exist_ok=True)
    previous = _load_manifest(directory / "manifest.json").get("users", {})
    entries: dict[str, dict] = {u: e for u, e in previous.items()}
    qlwork_home = str(home().resolve())
    jobs, digests, skipped = [], {}, []
    for user in people:
        digest = digests[user.user_id] = inputs_hash(user.parameters(day), nb_text, user.preferences())
        old = previous.get(user.user_id) or {}
        done = (old.get("status") == "ok" and old.get("inputs_hash") == digest
                and all((directory / (old.get(kind) or "-")).exists() for kind in ("notebook", *formats)))
        if done and not force:
            skipped.append(user.user_id)
            continue
        jobs.append(_job(user, day, nb_text, str(nb_path.as_posix()), kernel_name, timeout, qlwork_home, formats))
    result = BatchResult(as_of=day, directory=directory, entries=entries, skipped=skipped)
    by_id = {u.user_id: u for u in people}
    order = [u.user_id for u in (load_users(config) if users else people)]  # every configured user
    n_workers = workers or os.cpu_count() or 1
    mine: dict[str, dict] = {}
    with contextlib.ExitStack() as stack:
        if executor == "dask":
            if scheduler is None:  # an in-process cluster: its kernels' folders go in this batch's runtime folder
                runtime = stack.enter_context(BatchRuntime())
                jobs = [{**job, "runtime_dir": str(runtime.path)} for job in jobs]
            stream = _dask(jobs, n_workers, scheduler)
        else:
            stream = _local(jobs, n_workers, stack.enter_context(BatchRuntime()))
        bar = stack.enter_context(tqdm(total=len(jobs), desc=f"reports {day}", unit="user",
                                       disable=not progress or not jobs, file=sys.stderr))
        for outcome in stream if jobs else ():
            uid = outcome["user_id"]
            user_dir = directory / uid
            atomic_write(user_dir / NOTEBOOK_NAME, outcome["notebook"])
            atomic_write(user_dir / (NOTEBOOK_NAME[:-6] + ".html"), outcome["html"])
            for kind in ("pdf", "xlsx"):
                if outcome.get(kind):
                    atomic_write(user_dir / f"{NOTEBOOK_NAME[:-6]}.{kind}", outcome[kind])
            mine[uid] = _entry(outcome, by_id[uid], day, digests[uid], executor)
            result.ran.append(uid)
            entries.update(_write_outputs(directory, day, mine, order))
            bar.set_postfix_str(f"{uid}: {outcome['status']}")
            bar.update(1)
            if on_result is not None:
                on_result(mine[uid])
    if not jobs:
        entries.update(_write_outputs(directory, day, mine, order))
    result.entries = {u.user_id: entries[u.user_id] for u in people if u.user_id in entries}
    return result
