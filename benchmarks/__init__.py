"""The benchmark harness of django-whatsapp-login (not part of the package).

Run it with ``python3 benchmarks/run.py``; see benchmarks/README.md.
"""
