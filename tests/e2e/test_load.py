"""Load: 20 simulated raters × 50 ratings at once through the app's code path.

Run as: pytest -m e2e tests/e2e/test_load.py   (the figures: python bench/rating_load.py)
"""

import importlib.util
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e
BENCH = Path(__file__).resolve().parents[2] / "bench" / "rating_load.py"


def test_twenty_raters_store_exactly_1000_ratings_and_the_next_item_shows_fast():
    spec = importlib.util.spec_from_file_location("rating_load", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    result = bench.measure("shared", raters=20, ratings=50)
    assert (result["stored"], result["duplicates"], result["min_per_rater"],
            result["errors"]) == (1000, 0, 50, 0), result["first_errors"]
    assert result["next_item_ms"]["p95"] < 300, result["next_item_ms"]
