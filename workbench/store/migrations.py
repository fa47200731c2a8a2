"""Schema migrations: ordered ``m00N_*`` functions recorded in ``schema_migrations``.

The pattern of simonw/llm's migrations: the store migrates itself on open. Add a migration by
writing a new ``m00N_<what>`` function (here, or in the store module that owns the tables) and
appending it to ``MIGRATIONS``; never edit one that has shipped.
"""

from __future__ import annotations

import duckdb


def m001_initial(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("""
    CREATE TABLE datasets(id INTEGER PRIMARY KEY, name VARCHAR, source VARCHAR,
        format VARCHAR, rows_in INTEGER, created_at TIMESTAMP DEFAULT current_timestamp);
    CREATE TABLE examples(dataset_id INTEGER, id INTEGER, line INTEGER, messages VARCHAR,
        meta VARCHAR, redacted_messages VARCHAR, PRIMARY KEY(dataset_id, id));
    CREATE TABLE rejects(dataset_id INTEGER, line INTEGER, reason VARCHAR, detail VARCHAR,
        raw VARCHAR);
    CREATE TABLE findings(dataset_id INTEGER, example_id INTEGER, step VARCHAR, code VARCHAR,
        severity VARCHAR, message VARCHAR, message_index INTEGER);
    CREATE TABLE dup_clusters(dataset_id INTEGER, example_id INTEGER, level VARCHAR,
        representative_id INTEGER, similarity DOUBLE);
    CREATE TABLE pii_spans(dataset_id INTEGER, example_id INTEGER, message_index INTEGER,
        entity_type VARCHAR, start_char INTEGER, end_char INTEGER, score DOUBLE);
    CREATE SEQUENCE decision_ids;
    CREATE TABLE decisions(id BIGINT DEFAULT nextval('decision_ids'), dataset_id INTEGER,
        example_id INTEGER, action VARCHAR, who VARCHAR, reason VARCHAR,
        decided_at TIMESTAMP DEFAULT current_timestamp);
    CREATE TABLE splits(dataset_id INTEGER, example_id INTEGER, split VARCHAR, seed INTEGER);
    CREATE TABLE versions(id VARCHAR PRIMARY KEY, dataset_id INTEGER, n_rows INTEGER,
        recipe VARCHAR, created_at TIMESTAMP DEFAULT current_timestamp);
    CREATE TABLE runs(id VARCHAR PRIMARY KEY, kind VARCHAR, dataset_id INTEGER,
        state VARCHAR, dir VARCHAR, config VARCHAR, summary VARCHAR,
        created_at TIMESTAMP DEFAULT current_timestamp, finished_at TIMESTAMP);
    CREATE TABLE train_log(run_id VARCHAR, step INTEGER, loss DOUBLE);
    CREATE TABLE generations(run_id VARCHAR, example_id INTEGER, system VARCHAR,
        prompt VARCHAR, reference VARCHAR, output VARCHAR);
    CREATE TABLE metric_scores(run_id VARCHAR, system VARCHAR, metric VARCHAR, value DOUBLE);
    CREATE TABLE rating_items(id INTEGER PRIMARY KEY, run_id VARCHAR, example_id INTEGER,
        left_system VARCHAR, right_system VARCHAR, auto_tie BOOLEAN);
    CREATE TABLE ratings(item_id INTEGER, rater VARCHAR, choice VARCHAR, label VARCHAR,
        rated_at TIMESTAMP DEFAULT current_timestamp, PRIMARY KEY(item_id, rater));
    CREATE TABLE audit_log(logged_at TIMESTAMP DEFAULT current_timestamp, actor VARCHAR,
        action VARCHAR, detail VARCHAR);
    """)


def m007_evaluation(con: duckdb.DuckDBPyConnection) -> None:
    """Per-example metric scores, held-out loss per example, generated-token counts."""
    con.execute("""
    ALTER TABLE generations ADD COLUMN new_tokens INTEGER;
    CREATE TABLE example_scores(run_id VARCHAR, example_id INTEGER, system VARCHAR,
        metric VARCHAR, value DOUBLE);
    CREATE TABLE heldout_losses(run_id VARCHAR, example_id INTEGER, system VARCHAR,
        loss_sum DOUBLE, tokens INTEGER);
    """)


MIGRATIONS = [m001_initial, m007_evaluation]


def migrate(con: duckdb.DuckDBPyConnection) -> None:
    """Apply, in order, every migration not yet recorded in ``schema_migrations``."""
    con.execute("CREATE TABLE IF NOT EXISTS schema_migrations(name VARCHAR PRIMARY KEY, "
                "applied_at TIMESTAMP DEFAULT current_timestamp)")
    done = {r[0] for r in con.execute("SELECT name FROM schema_migrations").fetchall()}
    for migration in MIGRATIONS:
        if migration.__name__ not in done:
            con.execute("BEGIN")
            try:
                migration(con)
                con.execute("INSERT INTO schema_migrations(name) VALUES (?)",
                            [migration.__name__])
            except Exception:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")
