"""The benchmark's own virtual environment, benchmarks/.venv (standard library only).

It is isolated from the system's site packages, so what it has is exactly
benchmarks/requirements.txt plus the package (editable): a clean clone measures with the
same software as the machine that wrote the figures.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

from . import HERE, ROOT, RUN_PY

VENV = Path(os.environ.get("WL_BENCH_VENV", HERE / ".venv"))
REQUIREMENTS = HERE / "requirements.txt"


def venv_python() -> Path:
    return VENV / "bin" / "python"


def inside() -> bool:
    return Path(sys.prefix).resolve() == VENV.resolve()


def wanted_stamp() -> str:
    digest = hashlib.sha256()
    for path in (REQUIREMENTS, ROOT / "pyproject.toml"):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _isolated(cfg: Path) -> bool:
    """False for a venv made with --system-site-packages (older versions of this script)."""
    try:
        text = cfg.read_text()
    except OSError:
        return False
    return "include-system-site-packages = true" not in text.replace("True", "true")


def ensure() -> None:
    """Re-run ``run.py`` inside the venv, creating or updating it first when needed.

    Returns only when already inside it; exits with status 2 when pip fails.
    """
    if inside():
        return
    python = venv_python()
    if not python.exists() or not _isolated(VENV / "pyvenv.cfg"):
        print(f"Creating {VENV} ...", flush=True)
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    stamp = VENV / ".installed"
    wanted = wanted_stamp()
    if not stamp.exists() or stamp.read_text() != wanted:
        print("Installing benchmarks/requirements.txt and the package ...", flush=True)
        result = subprocess.run(
            [
                str(python),
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "-r",
                str(REQUIREMENTS),
                "-e",
                str(ROOT),
            ],
        )
        if result.returncode != 0:
            print(
                "benchmarks: pip could not install benchmarks/requirements.txt (see above); "
                f"fix the network or the index, or delete {VENV} and retry",
                file=sys.stderr,
            )
            raise SystemExit(2)
        stamp.write_text(wanted)
    os.execv(str(python), [str(python), str(RUN_PY), *sys.argv[1:]])
