#!/usr/bin/env python3
"""Benchmarks of django-whatsapp-login: ``python3 benchmarks/run.py`` from anywhere.

Checks its prerequisites (PostgreSQL, and Chromium or Redis when a figure needs them),
creates benchmarks/.venv with benchmarks/requirements.txt and the package, a fresh
PostgreSQL database on the server DATABASE_URL names, serves benchmarks/benchsite with
gunicorn, runs every figure in benchmarks/figures/, prints the page and writes
docs/benchmarks.md. ``--quick`` runs a few seconds per figure and writes
test-artifacts/benchmarks-quick.md instead. ``--help`` lists the options; the method is in
benchmarks/README.md.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]  # benchmarks.*, tests.e2e, benchsite

from benchmarks.harness.runner import main  # noqa: E402 (after the path)

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
