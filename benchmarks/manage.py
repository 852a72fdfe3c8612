#!/usr/bin/env python3
"""manage.py of the benchmark site (benchmarks/benchsite); DATABASE_URL must be set."""

import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchsite.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
