"""The runner: pick the figures, check prerequisites, build the venv, set the site up, run
each figure on its own (a failure is recorded, the others still run), write the page.

A figure is a module in benchmarks/figures/ with:

- ``NAME`` (used by ``--only`` / ``--skip``), ``TITLE`` (its section), ``ORDER`` (an int);
- ``REQUIRES``: a subset of ``{"postgres", "redis", "chromium"}``;
- ``run(ctx, quick) -> data``: measures, returns JSON-serialisable data;
- ``render(data, results) -> list[str]``: its section's Markdown (``results`` holds the data
  of the other figures of the same run that succeeded, by name);
- optionally ``TARGETS`` (a list of :class:`harness.report.Target`) and
  ``child(args) -> None`` (code that runs in a separate process, see :meth:`Context.child`).

Exit status: 0 when every figure ran, 1 when one failed (the page is written with it
marked), 2 when prerequisites are missing or the command line is wrong.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import pkgutil
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from types import ModuleType
from typing import Any

from . import (
    ARTIFACTS,
    CHROMIUM,
    DEFAULT_PG,
    DEFAULT_REDIS,
    DOCS_PAGE,
    HERE,
    QUICK_PAGE,
    ROOT,
    RUN_PY,
    WORKERS,
    prereqs,
    venv,
)
from .prereqs import one_line
from .report import render

FIGURES_PACKAGE = "benchmarks.figures"


class UsageError(Exception):
    """A wrong command line: main() prints it and exits with status 2."""


def discover() -> list[ModuleType]:
    """Every module of benchmarks/figures, in ``ORDER``."""
    package = importlib.import_module(FIGURES_PACKAGE)
    modules = [
        importlib.import_module(f"{FIGURES_PACKAGE}.{info.name}")
        for info in pkgutil.iter_modules(package.__path__)
        if not info.name.startswith("_")
    ]
    return sorted(modules, key=lambda m: (m.ORDER, m.NAME))


def select(figures: list[ModuleType], only: str, skip: str) -> list[ModuleType]:
    names = {f.NAME for f in figures}
    wanted = [n for n in only.split(",") if n]
    unwanted = [n for n in skip.split(",") if n]
    unknown = sorted(set(wanted + unwanted) - names)
    if unknown:
        raise UsageError(
            f"no figure named {', '.join(unknown)} (figures: {', '.join(sorted(names))})"
        )
    return [f for f in figures if (not wanted or f.NAME in wanted) and f.NAME not in unwanted]


def needs_of(figures: list[ModuleType]) -> dict[str, list[str]]:
    """Each prerequisite and the figures that need it; PostgreSQL always (the site's DB)."""
    needs: dict[str, list[str]] = {"postgres": []}
    for figure in figures:
        for need in sorted(figure.REQUIRES):
            needs.setdefault(need, []).append(figure.NAME)
    return needs


class Context:
    """What a figure gets: the site's database and server, and ways to get more of them.

    Servers and databases a figure makes through :meth:`start_server` and
    :meth:`new_database` are stopped and dropped when that figure ends, failed or not.
    """

    def __init__(self, *, pg_url: str, redis_url: str, chromium: str, quick: bool) -> None:
        self.pg_url = pg_url
        self.redis_url = redis_url
        self.chromium = chromium
        self.quick = quick
        self.logs = ARTIFACTS
        self.mail_dir = Path(tempfile.mkdtemp(prefix="wl_bench_mail_"))
        self.database_url = ""
        self.server: Any = None
        self._main_db: Any = None
        self._cleanups: list[Any] = []

    # -- the site ------------------------------------------------------------------------

    def setup(self) -> None:
        """The main database (migrated, with the users) and the main server."""
        from tests.e2e.server import Database

        from .site import populate, setup_django

        self._main_db = Database(self.pg_url, prefix="wl_bench")
        self.database_url = self._main_db.create()
        setup_django(self.database_url)
        populate()
        self.logs.mkdir(parents=True, exist_ok=True)
        self.server = self._server("main")
        self.server.start()

    def _server(self, label: str, **env: str) -> Any:
        from tests.e2e.server import GunicornServer

        from .site import server_env

        return GunicornServer(
            env=server_env(self.database_url, str(self.mail_dir), **env),
            chdir=HERE,
            wsgi="benchsite.wsgi:application",
            workers=WORKERS,
            python=sys.executable,
            log_path=self.logs / f"bench-gunicorn-{label}.log",
        )

    def ensure_server(self) -> None:
        """Restart the main server if a figure left it dead."""
        if self.server is not None and (
            self.server.process is None or self.server.process.poll() is not None
        ):
            self.server.stop()
            self.server.start()

    def start_server(self, label: str, **env: str) -> Any:
        """Another gunicorn server of the site on the main database, with ``env`` on top."""
        server = self._server(label, **env)
        server.start()
        self._cleanups.append(server.stop)
        return server

    def start_asgi_server(
        self, label: str, workers: int = 2, asgi: str = "benchsite.asgi:application", **env: str
    ) -> Any:
        """A uvicorn server of the site (``benchsite.asgi``: ``application`` has the lean
        events wrapper, ``django_application`` is Django's handler alone) on the main
        database."""
        from tests.e2e.server import UvicornServer

        from .site import server_env

        server = UvicornServer(
            env=server_env(self.database_url, str(self.mail_dir), **env),
            chdir=HERE,
            asgi=asgi,
            workers=workers,
            python=sys.executable,
            log_path=self.logs / f"bench-uvicorn-{label}.log",
        )
        server.start()
        self._cleanups.append(server.stop)
        return server

    def new_database(self, prefix: str = "wl_bench_extra") -> str:
        """An empty PostgreSQL database (not migrated) on the same server."""
        from tests.e2e.server import Database

        db = Database(self.pg_url, prefix=prefix)
        url = db.create()
        self._cleanups.append(db.drop)
        return url

    def child(self, figure: str, *args: str, env: dict[str, str] | None = None) -> Any:
        """Run ``figure``'s ``child(args)`` in a new process; return the JSON it printed
        last on stdout. Its stderr passes through (progress lines)."""
        result = subprocess.run(
            [sys.executable, str(RUN_PY), "--child", figure, *args],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        if result.returncode != 0:
            raise RuntimeError(f"the {figure} child process exited with {result.returncode}")
        lines = result.stdout.strip().splitlines()
        if not lines:
            raise RuntimeError(f"the {figure} child process printed nothing")
        return json.loads(lines[-1])

    def end_figure(self) -> None:
        while self._cleanups:
            cleanup = self._cleanups.pop()
            try:
                cleanup()
            except Exception as err:
                print(f"  (cleanup failed: {one_line(err)})", file=sys.stderr)
        close_connections()

    def teardown(self) -> None:
        self.end_figure()
        if self.server is not None:
            self.server.stop()
        close_connections()
        if self._main_db is not None:
            self._main_db.drop()
        shutil.rmtree(self.mail_dir, ignore_errors=True)


def close_connections() -> None:
    """Close this process's database connections, if Django is set up here."""
    if "django.db" in sys.modules:
        from django.apps import apps

        if apps.ready:
            from django.db import connections

            connections.close_all()


def run_figures(figures: list[ModuleType], ctx: Any, quick: bool) -> dict[str, Any]:
    """Run each figure; an exception is recorded as that figure's failure, never raised."""
    results: dict[str, Any] = {}
    for figure in figures:
        print(f"{figure.TITLE} ...", flush=True)
        started = time.perf_counter()
        try:
            if hasattr(ctx, "ensure_server"):
                ctx.ensure_server()
            data = figure.run(ctx, quick)
            json.dumps(data)  # the page and the JSON file need plain data
            results[figure.NAME] = {
                "ok": True,
                "data": data,
                "seconds": time.perf_counter() - started,
            }
        except Exception as err:
            tb = traceback.format_exc()
            print(tb, file=sys.stderr, flush=True)
            results[figure.NAME] = {
                "ok": False,
                "error": one_line(err),
                "traceback": tb,
                "seconds": time.perf_counter() - started,
            }
            print(f"  FAILED: {one_line(err)}", flush=True)
        finally:
            ctx.end_figure()
    return results


def all_failed(figures: list[ModuleType], err: BaseException) -> dict[str, Any]:
    """When the site itself cannot be set up, every figure fails with that reason."""
    tb = traceback.format_exc()
    return {
        f.NAME: {"ok": False, "error": "setup: " + one_line(err), "traceback": tb, "seconds": 0.0}
        for f in figures
    }


def output_path(quick: bool, output: str | None) -> Path:
    """Where the page goes: docs/benchmarks.md for a full run, never for a quick one."""
    if output is None:
        return QUICK_PAGE if quick else DOCS_PAGE
    path = Path(output).resolve()
    if quick and path == DOCS_PAGE.resolve():
        raise UsageError(
            "--quick never writes docs/benchmarks.md (its figures are too short); "
            "give another --output"
        )
    return path


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python3 benchmarks/run.py",
        description="Benchmarks of django-whatsapp-login; see benchmarks/README.md.",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a few seconds per figure (CI); the page goes to test-artifacts/, never docs/",
    )
    parser.add_argument(
        "--output",
        help="where to write the page (default docs/benchmarks.md, with --quick "
        "test-artifacts/benchmarks-quick.md); the results go next to it as JSON",
    )
    parser.add_argument("--no-write", action="store_true", help="print the page only")
    parser.add_argument("--only", default="", help="comma-separated figure names to run")
    parser.add_argument("--skip", default="", help="comma-separated figure names to leave out")
    parser.add_argument("--list", action="store_true", help="list the figures and exit")
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="rewrite the page from the JSON results of the last run to the same --output",
    )
    parser.add_argument("--child", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def results_path(page: Path) -> Path:
    return ARTIFACTS / "benchmarks.json" if page == DOCS_PAGE else page.with_suffix(".json")


def write_page(figures: list[ModuleType], run: dict[str, Any], page: Path, write: bool) -> None:
    text = render(
        figures,
        run["results"],
        command=run["command"],
        when=run["when"],
        duration_s=run["duration_s"],
        machine=run["machine"],
        commit=run["commit"],
        quick=run["quick"],
    )
    print("\n" + text)
    if write:
        page.parent.mkdir(parents=True, exist_ok=True)
        page.write_text(text)
        print(f"Wrote {page.relative_to(ROOT) if page.is_relative_to(ROOT) else page}")


def main(argv: list[str]) -> int:
    try:
        return _main(argv)
    except UsageError as err:
        print(f"benchmarks: {err}", file=sys.stderr)
        return 2


def _main(argv: list[str]) -> int:
    opts = parse(argv)
    if opts.child:
        name, *args = opts.child
        module = importlib.import_module(f"{FIGURES_PACKAGE}.{name}")
        module.child(args)
        return 0
    figures = select(discover(), opts.only, opts.skip)
    if opts.list:
        for f in figures:
            print(f"{f.NAME:18} {f.TITLE} (needs {', '.join(sorted(f.REQUIRES)) or '-'})")
        return 0
    page = output_path(opts.quick, opts.output)
    if opts.report_only:
        run = json.loads(results_path(page).read_text())
        by_name = {f.NAME: f for f in discover()}
        write_page([by_name[n] for n in run["results"]], run, page, not opts.no_write)
        return 1 if any(not r["ok"] for r in run["results"].values()) else 0

    pg_url = os.environ.get("DATABASE_URL", DEFAULT_PG)
    redis_url = os.environ.get("REDIS_URL", DEFAULT_REDIS)
    needs = needs_of(figures)
    where = {"pg_url": pg_url, "redis_url": redis_url, "chromium": CHROMIUM}
    missing = prereqs.check_system(needs, **where)
    if missing:
        print(prereqs.explain(missing), file=sys.stderr)
        return 2
    venv.ensure()  # re-runs this command inside benchmarks/.venv unless already there
    missing = prereqs.check_venv(needs, **where)
    if missing:
        print(prereqs.explain(missing), file=sys.stderr)
        return 2

    from .site import commit, machine

    command = "python3 benchmarks/run.py" + "".join(f" {a}" for a in argv)
    started = time.perf_counter()
    ctx = Context(quick=opts.quick, **where)
    try:
        try:
            ctx.setup()
        except Exception as err:
            print(traceback.format_exc(), file=sys.stderr)
            results = all_failed(figures, err)
            info = machine(with_database=False)
        else:
            info = machine()
            results = run_figures(figures, ctx, opts.quick)
    finally:
        ctx.teardown()
    run = {
        "command": command,
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "duration_s": time.perf_counter() - started,
        "machine": info,
        "commit": commit(),
        "quick": opts.quick,
        "results": results,
    }
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    results_path(page).write_text(json.dumps(run, indent=2))
    write_page(figures, run, page, not opts.no_write)
    failed = [name for name, r in results.items() if not r["ok"]]
    if failed:
        print(f"benchmarks: {len(failed)} figure(s) FAILED: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0
