"""Hostile answers: whatever a client sends, a submit is stored whole or refused with a
RatingError / AuthError, and a refusal changes nothing (hypothesis)."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evaluation.sessions import SessionDesign, make_items, plan
from tests.sessions_data import add_generations
from common.errors import WorkbenchError
from workbench.store import memory_workspace
from workbench.store import sessions as ss

junk = st.one_of(st.none(), st.booleans(), st.integers(-3, 8), st.floats(allow_nan=True),
                 st.text(max_size=30), st.sampled_from(["A", "B", "tie", "both_bad"]))


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    workspace = memory_workspace(tmp_path_factory.mktemp("h"))
    add_generations(workspace, 6)
    made = ss.create_session(workspace, "h", "gen-1", SessionDesign(), ["ana"], seed=0)
    workspace.rater = ss.login(workspace, made["tokens"]["ana"])["rater_id"]
    yield workspace
    workspace.con.close()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(position=junk, choice=junk, reason=st.one_of(st.none(), st.text(max_size=3000)),
       left=junk, right=junk, rater=st.one_of(st.just("self"), st.text(max_size=12)))
def test_a_submit_is_stored_whole_or_refused_without_change(ws, position, choice, reason,
                                                            left, right, rater):
    rater_id = ws.rater if rater == "self" else rater
    before = ws.query("SELECT * FROM session_ratings ORDER BY ALL")
    try:
        ss.submit(ws, rater_id, position, choice, reason, left, right)
    except WorkbenchError:
        assert ws.query("SELECT * FROM session_ratings ORDER BY ALL") == before
        return
    row = ws.query("SELECT choice, reason, likert_left, likert_right FROM session_ratings "
                   "WHERE rater_id = ? AND position = ?", [rater_id, position])[0]
    assert row == {"choice": choice, "reason": reason or None, "likert_left": left,
                   "likert_right": right}
    ws.con.execute("DELETE FROM session_ratings")  # leave room for the next example


@settings(max_examples=60, deadline=None)
@given(n_raters=st.integers(1, 6), k=st.integers(1, 3), extra=st.integers(0, 9),
       share=st.sampled_from([0.0, 0.1, 0.25, 0.5]), seed=st.integers(0, 2**31))
def test_every_plan_gives_each_item_k_distinct_raters_and_repeats_come_later(
        n_raters, k, extra, share, seed):
    k = min(k, n_raters)
    items = make_items(list(range(1, n_raters * k + extra + 1)), ("x", "y"))
    rows = plan(SessionDesign(k=k, repeat_share=share), items,
                [f"r{i}" for i in range(n_raters)], seed)
    firsts = [r for r in rows if not r.is_repeat]
    for item in items:
        assert len({r.rater for r in firsts if r.item_no == item.item_no}) == k
    for rep in (r for r in rows if r.is_repeat):
        first = next(r for r in firsts if r.rater == rep.rater and r.item_no == rep.item_no)
        assert first.position < rep.position
    for rater in {r.rater for r in rows}:
        assert sorted(r.position for r in rows if r.rater == rater) == \
            list(range(sum(r.rater == rater for r in rows)))
