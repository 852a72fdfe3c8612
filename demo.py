#!/usr/bin/env python3
"""Run the django-whatsapp-login demo with one command.

    python3 demo.py              # set up and serve on http://127.0.0.1:8000
    python3 demo.py --no-server  # set up only (used by CI)

Standard library only. It creates a virtual environment in .venv-demo (once), installs
this checkout with the "example" extra into it, migrates the example project's SQLite
database, creates the demo tenant and starts the development server.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import subprocess
import sys
from pathlib import Path
from types import FrameType

MIN_PYTHON = (3, 10)
ROOT = Path(__file__).resolve().parent
VENV_DIR = ROOT / ".venv-demo"
EXAMPLE_DIR = ROOT / "example_project"
DEMO_PHONE = "+996 555 000 000"


def venv_python(venv_dir: Path) -> Path:
    if sys.platform == "win32":
        return venv_dir / "Scripts" / "python.exe"
    return venv_dir / "bin" / "python"


def step(message: str) -> None:
    print(f"\n==> {message}", flush=True)


def run(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> None:
    print("$ " + " ".join(args), flush=True)
    subprocess.run(args, cwd=cwd, env=env, check=True)  # noqa: S603 (our own fixed argv)


def create_venv() -> Path:
    python = venv_python(VENV_DIR)
    if python.exists():
        return python
    step(f"Creating the virtual environment {VENV_DIR.name}")
    import venv

    try:
        # clear=True repairs a half-created folder left by an interrupted run.
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV_DIR)
    except (OSError, subprocess.CalledProcessError) as err:
        sys.exit(
            f"Could not create {VENV_DIR}: {err}\n"
            "On Debian/Ubuntu install the venv module first: sudo apt install python3-venv"
        )
    # Editable installs of a pyproject.toml-only package need pip >= 21.3.
    run([str(python), "-m", "pip", "install", "--quiet", "--upgrade", "pip"], cwd=ROOT)
    return python


def demo_env() -> dict[str, str]:
    """The example project's environment for the demo, set explicitly.

    The project fails closed (DEBUG off, no sandbox, no SECRET_KEY unless set); the demo
    is local, so it turns DEBUG and the sandbox on and makes a random key for this run.
    It always runs on example_project/db.sqlite3, whatever a DATABASE_URL, DEBUG or
    SECRET_KEY meant for another project says.
    """
    env = dict(os.environ)
    env.pop("DATABASE_URL", None)
    env["DEBUG"] = "True"
    env["WHATSAPP_LOGIN_SANDBOX"] = "True"
    # A new key each run: sessions from an earlier run simply end.
    env["SECRET_KEY"] = "demo-" + secrets.token_urlsafe(50)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def serve(args: list[str], cwd: Path, env: dict[str, str]) -> int:
    """Run the server ``args`` until it exits, or until we get SIGTERM / SIGINT.

    runserver's autoreloader runs the real server in a child of its own, so the server is
    started in a new process group and a signal to the demo stops the whole group: a
    stopped demo never leaves a server holding the port.
    """
    if sys.platform == "win32":
        server = subprocess.Popen(  # noqa: S603 (our own fixed argv)
            args, cwd=cwd, env=env, creationflags=subprocess.CREATE_NEW_PROCESS_GROUP
        )
    else:
        server = subprocess.Popen(args, cwd=cwd, env=env, start_new_session=True)  # noqa: S603

    def stop(signum: int, frame: FrameType | None) -> None:
        _stop_group(server)
        raise SystemExit(128 + signum)

    previous = {signum: signal.signal(signum, stop) for signum in _STOP_SIGNALS}
    try:
        return server.wait()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        _stop_group(server)


_STOP_SIGNALS = (
    (signal.SIGINT,) if sys.platform == "win32" else (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
)


def _stop_group(server: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the server's process group, SIGKILL after 5 s if it is still there."""
    if sys.platform == "win32":
        if server.poll() is None:
            server.terminate()
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(server.pid, sig)
        except (ProcessLookupError, PermissionError):
            return  # the group is gone
        try:
            server.wait(timeout=5)
        except subprocess.TimeoutExpired:
            continue
        # The leader is gone; its reloader child may still be stopping.
        try:
            os.killpg(server.pid, 0)
        except (ProcessLookupError, PermissionError):
            return


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--no-server", action="store_true", help="set everything up but do not start the server"
    )
    parser.add_argument("--port", type=int, default=8000, help="port (default: %(default)s)")
    options = parser.parse_args()

    if sys.version_info < MIN_PYTHON:
        sys.exit(f"The demo needs Python {MIN_PYTHON[0]}.{MIN_PYTHON[1]} or newer.")

    python = create_venv()
    env = demo_env()

    step("Installing django-whatsapp-login and the example project's requirements")
    run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-e",
            ".[example]",
        ],
        cwd=ROOT,
    )

    # The system checks run once, here; the commands below skip them, so the expected
    # whatsapp_login.W001 is printed once, not by every command.
    step("Checking the example project")
    run([str(python), "manage.py", "check"], cwd=EXAMPLE_DIR, env=env)

    step("Creating the database (example_project/db.sqlite3)")
    run(
        [str(python), "manage.py", "migrate", "--noinput", "--skip-checks"],
        cwd=EXAMPLE_DIR,
        env=env,
    )

    step("Creating the demo tenant")
    run([str(python), "manage.py", "demo_setup", "--skip-checks"], cwd=EXAMPLE_DIR, env=env)

    url = f"http://127.0.0.1:{options.port}"
    if options.no_server:
        step("Done. Start the server later with: python3 demo.py")
        return 0

    print(
        f"""
==> The demo is ready. Stop the server with Ctrl+C.

    1. Open {url}/login
    2. In the sandbox form "simulate sending from WhatsApp", enter the
       demo phone {DEMO_PHONE} and send it.
    3. The page logs you in and {url}/ greets "Demo Tenant".

    Admin: {url}/admin/  (user admin, password admin)

    The warning whatsapp_login.W001 (no webhook token) printed above is
    expected: the sandbox does not use the Green API webhook.
""",
        flush=True,
    )
    serve(
        [str(python), "manage.py", "runserver", "--skip-checks", f"127.0.0.1:{options.port}"],
        cwd=EXAMPLE_DIR,
        env=env,
    )
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except subprocess.CalledProcessError as err:
        sys.exit(f"\nThe demo setup failed: {' '.join(err.cmd)} exited with {err.returncode}.")
    except KeyboardInterrupt:
        sys.exit(130)
