"""SQL of the train/validation/test split and the leakage report.

Tables: ``splits`` (one row per example in a split, with its seed) and ``leakage`` (the
nearest train row of each held-out example).

An example's *group* is its representative followed through the dedup levels (exact → near
→ semantic); the group's root is the example kept. Splits assign whole groups, drawn by a
seeded hash of md5(root messages), so they depend on content and seed only, never on row
order.
"""

from __future__ import annotations

import json

from curation.split import BUCKET_SHIFT, bucket_cuts, draw_params
from workbench.store.kept import kept
from workbench.store.workspace import Workspace


def groups_sql(stratify_by: str | None) -> str:
    """Examples with their group (root), the root's content hash and stratum value."""
    stratum = "''" if not stratify_by else \
        "coalesce(json_extract_string(r.meta, '$.\"' || $stratify || '\"'), '')"
    return f"""
        WITH lv AS (SELECT example_id, level, representative_id AS rep FROM dup_clusters
                    WHERE dataset_id = $dataset),
        g AS (SELECT e.id, coalesce(s.rep, nr.rep, ex.rep, e.id) AS group_id FROM examples e
              LEFT JOIN lv ex ON ex.level = 'exact' AND ex.example_id = e.id
              LEFT JOIN lv nr ON nr.level = 'near' AND nr.example_id = coalesce(ex.rep, e.id)
              LEFT JOIN lv s ON s.level = 'semantic'
                   AND s.example_id = coalesce(nr.rep, ex.rep, e.id)
              WHERE e.dataset_id = $dataset)
        SELECT g.id, g.group_id, (md5_number_upper(r.messages) >> 2)::BIGINT AS root_key,
               {stratum} AS stratum
        FROM g JOIN examples r ON r.dataset_id = $dataset AND r.id = g.group_id"""


def assign_splits(ws: Workspace, dataset_id: int, seed: int, ratios: tuple[float, float, float],
                  stratify_by: str | None = None, include_duplicates: bool = False) -> dict:
    """Split eligible rows into train/validation/test, whole duplicate groups at a time.

    Eligible: the kept rows (``workbench.store.kept.kept``; with ``include_duplicates``,
    duplicates too).
    Groups are ordered by a seeded hash of md5(root messages) inside each stratum (the root's
    ``meta[stratify_by]``, missing = one stratum); stratum quotas are cut from the cumulative
    row count across strata (cascade rounding: the totals are round(n·test) and
    round(n·validation), each stratum within one row of its share of each).
    Returns {"train": n, "validation": n, "test": n}.
    """
    params = {"dataset": dataset_id}
    if stratify_by:
        params["stratify"] = stratify_by
    eligible = f"""SELECT m.* FROM ({groups_sql(stratify_by)}) m
        WHERE {kept("$dataset", "m.id", duplicates=include_duplicates)}"""
    with ws.transaction():
        select, select_params = split_select(ws.con, eligible, params, seed, ratios[1],
                                             ratios[2], materialize=True)
        ws.con.execute("DELETE FROM splits WHERE dataset_id = $dataset",
                       {"dataset": dataset_id})
        ws.con.execute(f"INSERT INTO splits(dataset_id, example_id, split, seed) SELECT "
                       f"$dataset, id, split, $seed::INTEGER FROM ({select})",
                       {**select_params, "dataset": dataset_id, "seed": seed})
    return ws.split_counts(dataset_id)


SPLIT_TYPE = "ENUM('train', 'validation', 'test')"


def _draws_sql(members: str) -> str:
    """(id, group_id, stratum, draw, draw2, bucket) of each member: the group's two draws."""
    return f"""SELECT id, group_id, stratum, draw, draw2, draw >> {BUCKET_SHIFT} AS bucket
        FROM (SELECT id, group_id, stratum, (lo * $a1 + hi * $b1 + $c1) % 2147483647 AS draw,
                (lo * $a2 + hi * $b2 + $c2) % 2147483647 AS draw2
              FROM (SELECT id, group_id, stratum, root_key % 2147483647 AS lo,
                    (root_key // 2147483647) % 2147483647 AS hi FROM ({members})))"""


def split_select(con, members: str, params: dict, seed: int, validation: float, test: float,
                 materialize: bool = False) -> tuple[str, dict]:
    """A SELECT of (id, split) over ``members``, and its parameters; runs one counting pass.

    ``members``: a SELECT of (id, group_id, root_key, stratum) with ``params``; ``root_key``
    a BIGINT in [0, 2^62) from the group root's content (the upper bits of md5(messages) in
    a workspace), ``stratum`` a non-NULL VARCHAR ('' = one stratum). ``validation``, ``test``:
    fractions. ``split`` is an ENUM('train', 'validation', 'test') (a dictionary-encoded
    string in Parquet, a VARCHAR once inserted into ``splits``). ``materialize``: compute
    ``members`` once for the two branches of the SELECT (worth it when ``members`` is a
    costly join; a Parquet scan is cheaper to read twice). Used by ``assign_splits`` and,
    over a Parquet file, by bench/curation.py.

    A group's draw is a pair of seeded universal hashes of its key (Carter & Wegman 1979:
    (a·lo + b·hi + c) mod 2^31−1 over the key's two 31-bit halves; 64-bit integer arithmetic,
    about 10× cheaper than an md5 per row in DuckDB). Inside a stratum, groups in draw order
    (draw, draw2, group_id) fill test up to its quota, then validation; the rest is train;
    a group that would cross a quota goes whole to the next split. Quotas are cut from the
    cumulative row count across strata ordered by value (cascade rounding). Only the rows
    that can straddle a quota are sorted: the counting pass builds a histogram of draws in
    4096 equal buckets per stratum, which gives every bucket below the test quota's bucket
    to test, those between to validation, those after to train; the (at most two) buckets
    holding a quota are ranked by a window. The result equals sorting every row.

    The rule is ``curation.split``'s (``draw_params``, ``stratum_quotas``, ``bucket_cuts``,
    pure functions); this function only runs it where the rows are: the hashing and the
    counting in SQL, the histogram to ``bucket_cuts``, its cuts back as list parameters.
    """
    draws = _draws_sql(members)
    hashes = {**params, **draw_params(seed)}
    histogram: dict[str, list[tuple[int, int]]] = {}
    for stratum, bucket, k in con.execute(f"SELECT stratum, bucket, count(*) FROM ({draws}) "
                                          "GROUP BY ALL", hashes).fetchall():
        histogram.setdefault(stratum, []).append((bucket, k))
    cuts = bucket_cuts(histogram, validation, test)
    if not cuts:
        return f"SELECT NULL::BIGINT AS id, NULL::{SPLIT_TYPE} AS split WHERE false", {}
    lists = {f"cut_{name}": [getattr(cut, field) for cut in cuts] for name, field in (
        ("stratum", "stratum"), ("q_test", "q_test"), ("q_held", "q_held"),
        ("bt", "test_bucket"), ("before_t", "before_test"), ("bh", "held_bucket"),
        ("before_h", "before_held"))}
    mode = "MATERIALIZED" if materialize else "NOT MATERIALIZED"
    split = {name: f"'{name}'::{SPLIT_TYPE}" for name in ("train", "validation", "test")}
    return f"""WITH r AS {mode} ({draws}),
        b AS (SELECT unnest($cut_stratum::VARCHAR[]) AS stratum,
                unnest($cut_q_test::BIGINT[]) AS q_test, unnest($cut_q_held::BIGINT[]) AS q_held,
                unnest($cut_bt::BIGINT[]) AS bt, unnest($cut_before_t::BIGINT[]) AS before_t,
                unnest($cut_bh::BIGINT[]) AS bh, unnest($cut_before_h::BIGINT[]) AS before_h)
        SELECT r.id, CASE WHEN r.bucket < b.bt THEN {split['test']} WHEN r.bucket < b.bh
            THEN {split['validation']} ELSE {split['train']} END AS split
        FROM r JOIN b USING (stratum) WHERE r.bucket <> b.bt AND r.bucket <> b.bh
        UNION ALL
        SELECT id, CASE WHEN upto <= q_test THEN {split['test']} WHEN upto <= q_held
            THEN {split['validation']} ELSE {split['train']} END
        FROM (SELECT r.id, b.q_test, b.q_held, CASE WHEN r.bucket = b.bt THEN b.before_t
                ELSE b.before_h END + count(*) OVER (PARTITION BY r.stratum, r.bucket
                ORDER BY r.draw, r.draw2, r.group_id) AS upto
              FROM r JOIN b USING (stratum) WHERE r.bucket = b.bt OR r.bucket = b.bh)""", \
        {**hashes, **lists}


def split_texts(ws: Workspace, dataset_id: int) -> list[dict]:
    """Split rows with their messages: {example_id, split, messages} in id order."""
    rows = ws.query("""SELECT s.example_id, s.split, e.messages FROM splits s JOIN examples e
        ON e.dataset_id = s.dataset_id AND e.id = s.example_id WHERE s.dataset_id = ?
        ORDER BY s.example_id""", [dataset_id])
    for row in rows:
        row["messages"] = json.loads(row["messages"])
    return rows


def replace_leakage(ws: Workspace, dataset_id: int, records: list[dict]) -> None:
    """Store the leakage report: {example_id, split, nearest_train_id, similarity,
    threshold, above} per held-out example."""
    ws.replace_rows("leakage", dataset_id, records)


def leakage(ws: Workspace, dataset_id: int):
    """The leakage report as a DataFrame, most similar first."""
    return ws.frame("""SELECT example_id, split, nearest_train_id, round(similarity, 4) AS
        similarity, above FROM leakage WHERE dataset_id = ? ORDER BY similarity DESC,
        example_id""", [dataset_id])
