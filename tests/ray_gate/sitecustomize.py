"""A gate on the Ray engine's batches, for the job-level tests of tests/test_engine_ray.py.

Python imports ``sitecustomize`` at start-up from the first folder of ``PYTHONPATH`` that has
one; the tests put this folder first for a job they start, so the job's process and the Ray
workers it starts (which inherit its environment) load it. With
``WORKBENCH_TEST_RAY_GATE=<folder>`` set, each batch whose highest row position (``idx``) is
at least ``WORKBENCH_TEST_RAY_HOLD_FROM`` touches ``<folder>/held-<pid>-<first idx>`` and
then, by ``WORKBENCH_TEST_RAY_GATE_MODE``: ``hold`` waits until ``<folder>/release``
exists; ``fail`` raises ValueError("planted failure at row <first idx>"). Without the
variable nothing is loaded or changed.
"""

import os

_GATE = os.environ.get("WORKBENCH_TEST_RAY_GATE")

if _GATE:
    import time
    from pathlib import Path

    import curation.engine_ray as _engine

    _plain_inputs = _engine._inputs

    def _gated_inputs(batch):
        folder = Path(_GATE)
        hold_from = int(os.environ.get("WORKBENCH_TEST_RAY_HOLD_FROM", "0"))
        idx = batch.column("idx").to_pylist()
        if max(idx) >= hold_from:
            (folder / f"held-{os.getpid()}-{idx[0]}").touch()
            if os.environ.get("WORKBENCH_TEST_RAY_GATE_MODE") == "fail":
                raise ValueError(f"planted failure at row {idx[0]}")
            while not (folder / "release").exists():
                time.sleep(0.05)
        return _plain_inputs(batch)

    _engine._inputs = _gated_inputs
