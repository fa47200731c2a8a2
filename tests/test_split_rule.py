"""The split's rule as pure functions (curation.split): the seed's hashes, cascade-rounded
quotas per stratum and where they cut a histogram of draws. Figures computed by hand."""

from curation.split import (
    NO_BUCKET,
    Cut,
    bucket_cuts,
    draw_params,
    round_half_away,
    stratum_quotas,
)


def test_draw_params_of_seed_0_are_fixed_by_sha256():
    assert draw_params(0) == {"a1": 605787362, "b1": 1352642432, "c1": 429891292,
                              "a2": 2106180931, "b2": 1596347265, "c2": 1506026133}
    assert draw_params(1) != draw_params(0)


def test_round_half_away_rounds_halves_away_from_zero_like_duckdb():
    assert [round_half_away(x) for x in (0.5, 1.5, 2.5, -2.5, 2.4999)] == [1, 2, 3, -3, 2]
    assert round_half_away(0.49999999999999994) == 0  # floor(x + 0.5) would give 1


def test_quotas_cascade_so_the_totals_are_the_rounded_shares():
    # a: 5 rows → round(0.5) = 1 test, 1 validation; b: round(1.0) − round(0.5) = 0 each,
    # so the totals are round(10 · 0.1) = 1 and 1, not 2 and 2
    assert stratum_quotas({"b": 5, "a": 5}, validation=0.1, test=0.1) == \
        {"a": (1, 2), "b": (0, 0)}


def test_quota_cut_is_the_first_bucket_whose_running_count_passes_it():
    # 10 rows: test quota round(3.0) = 3 fills bucket 0 exactly, so the cut is bucket 5
    # with 3 rows before it; held-out quota 3 + 2 = 5 is passed first in bucket 9
    assert bucket_cuts({"": [(9, 5), (0, 3), (5, 2)]}, validation=0.2, test=0.3) == \
        [Cut("", q_test=3, q_held=5, test_bucket=5, before_test=3, held_bucket=9,
             before_held=5)]


def test_a_quota_covering_the_whole_stratum_cuts_no_bucket():
    assert bucket_cuts({"x": [(1, 2)]}, validation=0.0, test=0.9) == \
        [Cut("x", 2, 2, NO_BUCKET, 0, NO_BUCKET, 0)]


def test_no_rows_give_no_cut():
    assert bucket_cuts({}, validation=0.1, test=0.1) == []
