"""Splits: stratified, grouped by duplicate cluster, deterministic, shuffle-invariant;
the leakage report; review overrides. Dedup runs with a bag-of-words stand-in encoder."""

import json
import random

import pytest

from curation.dedup import DedupPlan
from curation.split import P31, SplitConfig, draw_params
from tests.conftest import write_jsonl
from tests.dedup_helpers import bag_of_words, conv
from workbench.stages import curation as stages
from workbench.store import dedup as store
from workbench.store import splits
from workbench.store import open_workspace

WORDS = ("apple river violin kettle lantern carpet engine tomato ladder mirror harbor pencil "
         "teapot blanket camera wallet drum fence rocket saddle button candle bridge forest "
         "basket helmet garden window bicycle laptop").split()


def dataset(n=40, seed=0, categories=("a", "b")):
    """n distinct rows (8 random words each) with a category, then 10 exact/near copies."""
    rng = random.Random(seed)
    rows = [{"messages": conv(" ".join(rng.sample(WORDS, 8)), f"answer {i}"),
             "category": categories[i % len(categories)]} for i in range(n)]
    copies = [{"messages": conv(r["messages"][0]["content"].upper(), r["messages"][1]["content"]),
               "category": r["category"]} for r in rows[:10]]
    return rows + copies


def build(tmp_path, rows, name="ws", plan=None):
    ws = tmp_path / name
    path = write_jsonl(tmp_path / f"{name}.jsonl", [
        {"messages": r["messages"], "category": r["category"]} for r in rows])
    stages.ingest(ws, str(path), "openai")
    stages.dedup(ws, plan=plan or DedupPlan(), encode=bag_of_words)
    return ws


def contents_by_split(ws) -> dict[str, str]:
    with open_workspace(ws) as s:
        rows = splits.split_texts(s, s.current_dataset())
    return {r["messages"][0]["content"]: r["split"] for r in rows}


def test_split_is_unchanged_when_the_input_rows_are_shuffled(tmp_path):
    rows = dataset()
    shuffled = rows[:]
    random.Random(7).shuffle(shuffled)
    a, b = build(tmp_path, rows, "a"), build(tmp_path, shuffled, "b")
    assert stages.split(a, seed=3) == stages.split(b, seed=3) == \
        {"train": 32, "validation": 4, "test": 4}
    assert contents_by_split(a) == contents_by_split(b)


def test_split_is_deterministic_from_the_seed(tmp_path):
    ws = build(tmp_path, dataset())
    stages.split(ws, seed=1)
    first = contents_by_split(ws)
    stages.split(ws, seed=1)
    assert contents_by_split(ws) == first
    stages.split(ws, seed=2)
    assert contents_by_split(ws) != first


def test_stratified_split_gives_each_category_its_share(tmp_path):
    ws = build(tmp_path, dataset(n=60, categories=("a", "b", "c")))
    assert stages.split(ws, seed=0, ratios=(0.8, 0.1, 0.1), stratify_by="category") == \
        {"train": 48, "validation": 6, "test": 6}
    with open_workspace(ws) as s:
        counts = s.query("""SELECT json_extract_string(e.meta, '$.category') AS category,
            sp.split, count(*) AS n FROM splits sp JOIN examples e ON e.id = sp.example_id
            WHERE sp.split <> 'train' GROUP BY ALL ORDER BY ALL""")
    assert [(c["category"], c["split"], c["n"]) for c in counts] == [
        ("a", "test", 2), ("a", "validation", 2), ("b", "test", 2), ("b", "validation", 2),
        ("c", "test", 2), ("c", "validation", 2)]


def test_duplicates_are_dropped_by_default_and_kept_with_their_cluster_on_request(tmp_path):
    ws = build(tmp_path, dataset())
    assert sum(stages.split(ws).values()) == 40
    stages.split(ws, include_duplicates=True)
    with open_workspace(ws) as s:
        crossing = s.scalar("""SELECT count(*) FROM dup_clusters d
            JOIN splits a ON a.example_id = d.example_id
            JOIN splits b ON b.example_id = d.representative_id WHERE a.split <> b.split""")
        total = s.scalar("SELECT count(*) FROM splits")
    assert (crossing, total) == (0, 50)


def test_default_split_has_no_test_example_above_the_semantic_threshold(tmp_path):
    rows = dataset()
    # paraphrase-ish copies: one of 8 words replaced (bag-of-words cosine 0.875 ≥ 0.85)
    rows += [{"messages": conv(" ".join(r["messages"][0]["content"].split()[:7] + ["zebra"]),
                               r["messages"][1]["content"]), "category": "a"}
             for r in rows[10:20]]
    plan = DedupPlan()
    plan.semantic.threshold = 0.85
    ws = build(tmp_path, rows, plan=plan)
    stages.split(ws, seed=0, ratios=(0.5, 0.25, 0.25))
    report = stages.leakage(ws, encode=bag_of_words)
    assert report["above_threshold"] == 0 and report["held_out"] == 20
    assert report["max_similarity"] < 0.85
    plan.semantic.semantic = False
    stages.dedup(ws, plan=plan, encode=bag_of_words)  # without the semantic level: leaks
    stages.split(ws, seed=0, ratios=(0.5, 0.25, 0.25))
    leaky = stages.leakage(ws, encode=bag_of_words)
    assert leaky["above_threshold"] > 0


def test_leakage_report_names_the_nearest_training_example(tmp_path):
    ws = build(tmp_path, dataset())
    stages.split(ws, seed=0)
    stages.leakage(ws, encode=bag_of_words)
    with open_workspace(ws) as s:
        report = splits.leakage(s, s.current_dataset())
        nearest = s.query("SELECT split FROM splits WHERE example_id IN "
                          f"({','.join(map(str, report.nearest_train_id))})")
    assert len(report) == 8 and {r["split"] for r in nearest} == {"train"}


def test_not_a_duplicate_override_keeps_the_row_and_survives_a_new_dedup_run(tmp_path):
    ws = build(tmp_path, dataset())
    with open_workspace(ws) as s:
        d = s.current_dataset()
        member = s.scalar("SELECT min(example_id) FROM dup_clusters WHERE level = 'exact' "
                          "AND example_id <> representative_id")
        store.override(s, d, "exact", "not_duplicate", member, who="ana", reason="different")
        assert store.kept_count(s, d) == 41
    assert stages.dedup(ws, plan=DedupPlan(), encode=bag_of_words)["overrides_reapplied"] == 1
    with open_workspace(ws) as s:
        assert store.kept_count(s, d) == 41
        assert [(o["action"], o["example_id"], o["who"]) for o in store.overrides(s, d)] == \
            [("not_duplicate", member, "ana")]
        assert s.scalar("SELECT action FROM decisions") == "dedup_not_duplicate"


def test_representative_override_changes_which_row_is_kept(tmp_path):
    ws = build(tmp_path, dataset())
    with open_workspace(ws) as s:
        d = s.current_dataset()
        member, rep = s.row("SELECT example_id, representative_id FROM dup_clusters WHERE "
                            "level = 'exact' AND example_id <> representative_id "
                            "ORDER BY example_id LIMIT 1")
        store.override(s, d, "exact", "representative", member, who="bo")
        assert [m["example_id"] for m in store.cluster_members(s, d, "exact", member)] == \
            [member, rep]
        assert store.kept_count(s, d) == 40
        stages_split = splits.assign_splits(s, d, 0, (0.8, 0.1, 0.1))
        kept = {r[0] for r in s.con.execute("SELECT example_id FROM splits").fetchall()}
    assert member in kept and rep not in kept and sum(stages_split.values()) == 40


def test_an_unknown_override_action_is_refused(tmp_path):
    from common.errors import StageError

    ws = build(tmp_path, dataset(n=4))
    with open_workspace(ws) as s, pytest.raises(StageError, match="override action"):
        store.override(s, s.current_dataset(), "exact", "merge", 1, who="x")


def test_split_config_refuses_fractions_that_leave_no_train_rows():
    with pytest.raises(ValueError, match="validation \\+ test must be < 1"):
        SplitConfig(validation=0.5, test=0.5)


def reference_split(rows, seed, validation, test):
    """The split by its definition: every stratum's rows sorted by (draw, draw2, group_id),
    a row's rank counting its whole group, quotas by cascade rounding (half away from 0)."""
    import math

    h = draw_params(seed)
    p = P31

    def half_up(x):
        return math.floor(x + 0.5)

    def key(row):
        lo, hi = row["root_key"] % p, (row["root_key"] // p) % p
        return ((lo * h["a1"] + hi * h["b1"] + h["c1"]) % p,
                (lo * h["a2"] + hi * h["b2"] + h["c2"]) % p, row["group_id"])

    out, c = {}, 0
    for stratum in sorted({r["stratum"] for r in rows}):
        members = sorted((r for r in rows if r["stratum"] == stratum), key=key)
        n = len(members)
        c += n
        q_test = half_up(c * test) - half_up((c - n) * test)
        q_held = q_test + half_up(c * validation) - half_up((c - n) * validation)
        keys = [key(r) for r in members]
        for i, r in enumerate(members):
            upto = i + 1
            while upto < n and keys[upto] == keys[i]:
                upto += 1
            out[r["id"]] = "test" if upto <= q_test else \
                "validation" if upto <= q_held else "train"
    return out


def test_split_select_equals_sorting_every_row():
    """The histogram shortcut gives exactly the split a full sort gives: 3 strata (one of a
    single row), groups of 1-4 rows sharing a key, 20k rows over 4096 buckets."""
    import duckdb

    rng = random.Random(5)
    rows, group = [], 0
    while len(rows) < 20_000:
        size, stratum, key = rng.choice((1, 1, 1, 2, 4)), rng.choice("ab"), rng.getrandbits(62)
        rows += [{"id": len(rows) + i, "group_id": group, "root_key": key, "stratum": stratum}
                 for i in range(size)]
        group += 1
    rows.append({"id": len(rows), "group_id": group, "root_key": 7, "stratum": "c"})
    con = duckdb.connect()
    con.execute("CREATE TABLE m(id BIGINT, group_id BIGINT, root_key BIGINT, stratum VARCHAR)")
    con.executemany("INSERT INTO m VALUES (?, ?, ?, ?)",
                    [[r["id"], r["group_id"], r["root_key"], r["stratum"]] for r in rows])
    for seed, validation, test in ((0, 0.1, 0.1), (9, 0.25, 0.05), (3, 0.0, 0.5)):
        select, params = splits.split_select(con, "SELECT * FROM m", {}, seed, validation, test)
        got = dict(con.execute(f"SELECT id, split::VARCHAR FROM ({select})", params).fetchall())
        want = reference_split(rows, seed, validation, test)
        assert got == want
        assert len(got) == len(rows)
    counts = dict(con.execute(f"SELECT split::VARCHAR, count(*) FROM ({select}) GROUP BY 1",
                              params).fetchall())
    assert counts == {"train": 10_003, "test": 9_999}  # a group crossing the quota moves whole


def planted_pairs_dataset():
    """dataset() plus, for rows 10-19, a near copy (one of 8 words replaced: bag-of-words
    cosine 0.875, above a 0.85 threshold); returns (rows, [(original, copy) prompts])."""
    rows = dataset()
    pairs = []
    for r in rows[10:20]:
        words = r["messages"][0]["content"].split()
        copy = " ".join(words[:7] + ["zebra"])
        rows.append({"messages": conv(copy, r["messages"][1]["content"]), "category": "a"})
        pairs.append((r["messages"][0]["content"], copy))
    return rows, pairs


def leakage_findings(ws) -> list[dict]:
    with open_workspace(ws) as s:
        return s.query("""SELECT e.messages, f.code, f.severity, f.message FROM findings f
            JOIN examples e ON e.dataset_id = f.dataset_id AND e.id = f.example_id
            WHERE f.step = 'leakage' ORDER BY e.line""")


def test_leakage_stage_records_held_out_near_copies_of_training_rows_as_findings(tmp_path):
    """The pipeline's split → leakage: with semantic dedup (the default plan) no held-out row
    is a near copy of a training row; without it, exactly the planted pairs the split puts
    on both sides of the train/held-out line are findings."""
    rows, pairs = planted_pairs_dataset()
    plan = DedupPlan()
    plan.semantic.threshold = 0.85
    ws = build(tmp_path, rows, plan=plan)
    stages.split(ws, seed=0, ratios=(0.5, 0.25, 0.25))
    clean = stages.leakage(ws, encode=bag_of_words)
    assert (clean["held_out"], clean["above_threshold"]) == (20, 0)
    assert leakage_findings(ws) == []

    plan.semantic.semantic = False  # the near copies stay: some land on both sides
    stages.dedup(ws, plan=plan, encode=bag_of_words)
    stages.split(ws, seed=0, ratios=(0.5, 0.25, 0.25))
    split_of = contents_by_split(ws)
    crossing = [(a, b) for a, b in pairs if (split_of[a] == "train") != (split_of[b] == "train")]
    leaky = stages.leakage(ws, encode=bag_of_words)
    found = leakage_findings(ws)
    held = sorted(b if split_of[a] == "train" else a for a, b in crossing)
    assert len(crossing) == 4
    assert leaky["above_threshold"] == len(found) == 4
    assert sorted(f["messages"] for f in found) == sorted(
        json.dumps(conv(h, next(r["messages"][1]["content"] for r in rows
                                if r["messages"][0]["content"] == h))) for h in held)
    assert {(f["code"], f["severity"]) for f in found} == {("test_leakage", "warning")}
    # row 13's copy is row 53 (rows 11-20 get copies 51-60); both texts end "answer 12"
    assert found[0]["message"] == ("row 13 (test) has cosine 0.9167 to training row 53 "
                                   "(threshold 0.85): a near copy of a training example")
    stages.dedup(ws, plan=DedupPlan(), encode=bag_of_words)  # a rerun replaces the findings
    stages.split(ws, seed=0, ratios=(0.5, 0.25, 0.25))
    stages.leakage(ws, encode=bag_of_words)
    assert leakage_findings(ws) == []
