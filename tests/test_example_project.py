"""The example project fails closed and demo.py runs it safely (issue 14, items 8 and 9).

Each test starts real processes with the example project's own settings, in an environment
with none of its variables set, as on a server where somebody forgot them.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "example_project"
PORTS = range(8140, 8150)

pytestmark = pytest.mark.skipif(
    (EXAMPLE / ".env").exists(), reason="example_project/.env would set the variables"
)


def bare_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The process environment minus everything the example project reads."""
    names = {"SECRET_KEY", "DEBUG", "DATABASE_URL", "ALLOWED_HOSTS", "DJANGO_SETTINGS_MODULE"}
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in names and not key.startswith(("WHATSAPP_", "GREEN_API_"))
    }
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.update(extra)
    return env


def manage(tmp_path: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 (our interpreter, our arguments)
        [sys.executable, "manage.py", *args],
        cwd=EXAMPLE,
        env=bare_env(tmp_path, **extra),
        capture_output=True,
        text=True,
        timeout=120,
    )


SHOW = (
    "from django.conf import settings; "
    "print(settings.DEBUG, settings.WHATSAPP_LOGIN_SANDBOX, len(settings.SECRET_KEY))"
)


def test_without_a_secret_key_it_refuses_to_start(tmp_path):
    result = manage(tmp_path, "check")
    assert result.returncode != 0
    assert "refuses to start: SECRET_KEY is not set" in result.stderr
    assert "demo.py" in result.stderr
    assert "Traceback" not in result.stderr  # one clear line, not a stack


def test_without_its_variables_debug_and_the_sandbox_are_off(tmp_path):
    result = manage(tmp_path, "shell", "-c", SHOW, SECRET_KEY="k" * 50)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1].split() == ["False", "False", "50"]


def test_debug_and_the_sandbox_only_when_set(tmp_path):
    result = manage(
        tmp_path,
        "shell",
        "-c",
        SHOW,
        SECRET_KEY="k" * 50,
        DEBUG="True",
        WHATSAPP_LOGIN_SANDBOX="True",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1].split() == ["True", "True", "50"]
    only_debug = manage(tmp_path, "shell", "-c", SHOW, SECRET_KEY="k" * 50, DEBUG="True")
    assert only_debug.stdout.splitlines()[-1].split() == [
        "True",
        "False",
        "50",
    ]  # the sandbox is not implied


def load_demo():
    spec = importlib.util.spec_from_file_location("demo_under_test", ROOT / "demo.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_demo_sets_what_it_needs_explicitly(monkeypatch):
    for name in ("SECRET_KEY", "DEBUG", "WHATSAPP_LOGIN_SANDBOX"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL", "postgres://elsewhere/other")
    demo = load_demo()
    env, again = demo.demo_env(), demo.demo_env()
    assert env["DEBUG"] == "True" and env["WHATSAPP_LOGIN_SANDBOX"] == "True"
    assert len(env["SECRET_KEY"]) >= 50 and env["SECRET_KEY"] != again["SECRET_KEY"]
    assert "DATABASE_URL" not in env


def test_demo_checks_once_so_w001_prints_once():
    source = (ROOT / "demo.py").read_text(encoding="utf-8")
    # Every manage.py command but the one "check" skips the system checks.
    commands = [line for line in source.splitlines() if '"manage.py"' in line]
    assert any('"check"' in line for line in commands)
    for name in ("migrate", "demo_setup", "runserver"):
        [line] = [line for line in commands if f'"{name}"' in line] or [
            line for line in source.splitlines() if f'"{name}"' in line
        ]
        assert "--skip-checks" in line, line


def free_port() -> int:
    for port in PORTS:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    pytest.skip("no free port in 8140-8149")


def listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.2)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by its parent) counts as gone.
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split()[2] == "Z")


def children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


@pytest.mark.skipif(sys.platform == "win32" or not Path("/proc").exists(), reason="POSIX, /proc")
def test_sigterm_to_the_demo_stops_its_runserver(tmp_path):
    """demo.serve() with the real runserver (autoreloader and all) of the example project."""
    port = free_port()
    env = bare_env(tmp_path, SECRET_KEY="k" * 50, DEBUG="True", WHATSAPP_LOGIN_SANDBOX="True")
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import demo; from pathlib import Path; "
        "sys.exit(demo.serve([sys.executable, 'manage.py', 'runserver', '--skip-checks', "
        "f'127.0.0.1:{sys.argv[2]}'], cwd=Path(sys.argv[3]), env=dict(__import__('os').environ)))"
    )
    wrapper = subprocess.Popen(  # noqa: S603
        [sys.executable, "-c", code, str(ROOT), str(port), str(EXAMPLE)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not listening(port):
            assert wrapper.poll() is None, "the demo server exited early"
            assert time.monotonic() < deadline, "runserver did not start"
            time.sleep(0.2)
        tree = children(wrapper.pid)
        tree += [grandchild for child in tree for grandchild in children(child)]
        assert len(tree) >= 2  # runserver's reloader and the server it runs
        wrapper.send_signal(signal.SIGTERM)
        assert wrapper.wait(timeout=15) == 128 + signal.SIGTERM
        deadline = time.monotonic() + 10
        while (listening(port) or any(alive(pid) for pid in tree)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not listening(port), "runserver still serves after the demo got SIGTERM"
        assert [pid for pid in tree if alive(pid)] == []
    finally:
        if wrapper.poll() is None:
            wrapper.kill()


FAVICON = (
    "from django.test.utils import setup_test_environment; setup_test_environment(); "
    "from django.test import Client; from django.contrib.staticfiles import finders; "
    "r = Client().get('/favicon.ico'); "
    "print(r.status_code, r['Location'], bool(finders.find('whatsapp_login/icon.svg')))"
)


def test_favicon_does_not_404(tmp_path):
    result = manage(tmp_path, "shell", "-c", FAVICON, SECRET_KEY="k" * 50, DEBUG="True")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1].split() == [
        "302",
        "/static/whatsapp_login/icon.svg",
        "True",
    ]
