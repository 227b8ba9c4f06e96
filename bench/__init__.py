"""Benchmark suite for prenatal-cds (issue 5). Run with ``python -m bench`` (``make bench``).

Not part of the test suite: ``tests/bench/test_bench_smoke.py`` runs every part with tiny
sizes so the harness cannot rot, and the real figures land in ``bench/RESULTS.md``.
"""
