#!/usr/bin/env python3
"""Run the test suite in its own virtual environment: `python3 runtests.py [pytest args]`.

Needs nothing but Python >= 3.10. The first run creates .venv-test and installs the
package with its test extra; later runs reinstall only when pyproject.toml changed.
Set DATABASE_URL (PostgreSQL) and/or REDIS_URL to run the same suite against them.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("RUNTESTS_VENV", ROOT / ".venv-test"))


def venv_python() -> Path:
    if sys.platform == "win32":
        return VENV / "Scripts" / "python.exe"
    return VENV / "bin" / "python"


def ensure_environment() -> Path:
    python = venv_python()
    if not python.exists():
        print(f"Creating {VENV} ...", flush=True)
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    stamp = VENV / ".installed"
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if not stamp.exists() or stamp.read_text() != wanted:
        print("Installing the package and its test dependencies ...", flush=True)
        subprocess.run(
            [
                str(python),
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "-e",
                f"{ROOT}[test]",
            ],
            check=True,
        )
        stamp.write_text(wanted)
    return python


def main(argv: list[str]) -> int:
    python = ensure_environment()
    result = subprocess.run([str(python), "-m", "pytest", *argv], cwd=ROOT)
    if result.returncode == 5:
        print("runtests: no tests were collected", file=sys.stderr)
    return result.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
