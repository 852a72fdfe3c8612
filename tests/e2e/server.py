"""Start the example project (or another Django project) under gunicorn for real-browser tests.

Used by the e2e suite and by ``benchmarks/run.py``. Nothing here imports Django: the
server runs in its own processes, exactly as in production, and the test process only
talks HTTP to it.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "example_project"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Database:
    """A throw-away database: a new PostgreSQL database when ``DATABASE_URL`` names a
    PostgreSQL server, else a SQLite file in a temporary directory."""

    def __init__(self, base_url: str | None = None, prefix: str = "wl_e2e") -> None:
        self.base_url = base_url if base_url is not None else os.environ.get("DATABASE_URL", "")
        self.prefix = prefix
        self.url = ""
        self._tmp: str | None = None
        self._pg_name: str | None = None

    @property
    def is_postgres(self) -> bool:
        return self.base_url.startswith(("postgres://", "postgresql://"))

    def _admin_connect(self):  # type: ignore[no-untyped-def]
        import psycopg

        return psycopg.connect(self.base_url, autocommit=True)

    def create(self) -> str:
        if self.is_postgres:
            self._pg_name = f"{self.prefix}_{secrets.token_hex(4)}"
            with self._admin_connect() as conn:
                conn.execute(f'CREATE DATABASE "{self._pg_name}"')
            parts = urlsplit(self.base_url)
            self.url = urlunsplit(parts._replace(path="/" + self._pg_name))
        else:
            self._tmp = tempfile.mkdtemp(prefix=self.prefix + "_")
            self.url = "sqlite:///" + os.path.join(self._tmp, "db.sqlite3")
        return self.url

    def drop(self) -> None:
        if self._pg_name:
            with self._admin_connect() as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self._pg_name}" WITH (FORCE)')
            self._pg_name = None
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None


class GunicornServer:
    """``python -m gunicorn`` serving a WSGI app on 127.0.0.1 with several workers."""

    def __init__(
        self,
        *,
        env: dict[str, str],
        chdir: Path = EXAMPLE,
        wsgi: str = "config.wsgi:application",
        workers: int = 3,
        python: str = sys.executable,
        log_path: Path | None = None,
        extra_args: list[str] | None = None,
    ) -> None:
        self.env = env
        self.chdir = chdir
        self.wsgi = wsgi
        self.workers = workers
        self.python = python
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.extra_args = extra_args or []
        self.process: subprocess.Popen[bytes] | None = None
        self._log = None

    def manage(self, *args: str, input_text: str | None = None) -> str:
        """Run ``manage.py`` with the server's environment; return its output."""
        result = subprocess.run(  # noqa: S603 (our own interpreter and arguments)
            [self.python, "manage.py", *args],
            cwd=self.chdir,
            env=self.env,
            input=input_text,
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
            )
        return result.stdout

    def start(self, timeout: float = 30.0) -> None:
        self._log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        self.process = subprocess.Popen(  # noqa: S603 (our own interpreter and arguments)
            [
                self.python,
                "-m",
                "gunicorn",
                self.wsgi,
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                str(self.workers),
                "--chdir",
                str(self.chdir),
                "--timeout",
                "60",
                "--graceful-timeout",
                "5",
                *self.extra_args,
            ],
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"gunicorn exited with {self.process.returncode}; see {self.log_path}"
                )
            try:
                with urllib.request.urlopen(self.url + "/login", timeout=2) as response:  # noqa: S310
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"gunicorn did not answer within {timeout} s; see {self.log_path}")

    def worker_pids(self) -> list[int]:
        """The gunicorn worker processes (children of the master)."""
        if self.process is None:
            return []
        master = self.process.pid
        pids = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == master:  # the parent pid
                pids.append(int(stat.parent.name))
        return pids

    def cpu_seconds(self) -> float:
        """User + system CPU time of the master and its live workers so far."""
        ticks = os.sysconf("SC_CLK_TCK")
        total = 0.0
        pids = [self.process.pid] if self.process else []
        for pid in pids + self.worker_pids():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
        return total

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.process = None
        if self._log not in (None, subprocess.DEVNULL):
            self._log.close()  # type: ignore[union-attr]
            self._log = None


class UvicornServer(GunicornServer):
    """``python -m uvicorn`` serving an ASGI app on 127.0.0.1 (the same helpers as
    :class:`GunicornServer`; ``wsgi`` names the ASGI application here)."""

    def __init__(self, *, asgi: str = "config.asgi:application", **kwargs: Any) -> None:
        super().__init__(wsgi=asgi, **kwargs)

    def start(self, timeout: float = 30.0) -> None:
        self._log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        self.process = subprocess.Popen(  # noqa: S603 (our own interpreter and arguments)
            [
                self.python,
                "-m",
                "uvicorn",
                self.wsgi,
                "--app-dir",
                str(self.chdir),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--workers",
                str(self.workers),
                "--log-level",
                "warning",
                *self.extra_args,
            ],
            env=self.env,
            cwd=self.chdir,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"uvicorn exited with {self.process.returncode}; see {self.log_path}"
                )
            try:
                with urllib.request.urlopen(self.url + "/login", timeout=2) as response:  # noqa: S310
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"uvicorn did not answer within {timeout} s; see {self.log_path}")
