"""Benchmarks of the OpenTaco service against same-run baselines.

``python -m benchmarks`` (or ``nox -s bench``) starts the real ``opentacosvc``
on loopback, and in the same run a bare Starlette app on the same uvicorn
settings and raw SQLite transactions with the same durability settings, so
every figure comes with the physical limit it is measured against. See
``docs/performance.md`` for the figures and what limits them.

The pure helpers (``stats``, ``states``, ``report``) import nothing beyond the
standard library, so the test suite can exercise them without the bench deps.
"""
