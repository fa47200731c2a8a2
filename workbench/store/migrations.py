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


def m005_curation_io(con: duckdb.DuckDBPyConnection) -> None:
    """Row edits keep old and new text; versions keep their rows; token counts per example."""
    con.execute("""
    ALTER TABLE decisions ADD COLUMN message_index INTEGER;
    ALTER TABLE decisions ADD COLUMN old_text VARCHAR;
    ALTER TABLE decisions ADD COLUMN new_text VARCHAR;
    ALTER TABLE versions ADD COLUMN note VARCHAR;
    CREATE TABLE version_rows(version_id VARCHAR, position INTEGER, origin VARCHAR,
        messages VARCHAR, meta VARCHAR, split VARCHAR, PRIMARY KEY(version_id, position));
    CREATE TABLE example_tokens(dataset_id INTEGER, example_id INTEGER, n_tokens INTEGER,
        trainable_tokens INTEGER, openai_tokens INTEGER);
    """)


def m004_sessions(con: duckdb.DuckDBPyConnection) -> None:
    """Blind rating sessions and the admin password; owner: store/sessions.py
    and store/auth.py. Tokens and the password are stored hashed only (workbench/auth.py)."""
    con.execute("""
    CREATE TABLE rating_sessions(id INTEGER PRIMARY KEY, name VARCHAR, run_id VARCHAR,
        systems VARCHAR, k INTEGER, repeat_share DOUBLE, guidelines VARCHAR, seed BIGINT,
        created_by VARCHAR, created_at TIMESTAMP DEFAULT current_timestamp);
    CREATE TABLE session_items(session_id INTEGER, item_no INTEGER, example_id INTEGER,
        first_system VARCHAR, second_system VARCHAR, auto_tie BOOLEAN,
        PRIMARY KEY(session_id, item_no));
    CREATE TABLE session_raters(id VARCHAR PRIMARY KEY, session_id INTEGER, name VARCHAR,
        token_hash VARCHAR UNIQUE, created_at TIMESTAMP DEFAULT current_timestamp,
        revoked_at TIMESTAMP);
    CREATE TABLE assignments(session_id INTEGER, rater_id VARCHAR, position INTEGER,
        item_no INTEGER, left_system VARCHAR, right_system VARCHAR, is_repeat BOOLEAN,
        PRIMARY KEY(rater_id, position));
    CREATE TABLE skips(rater_id VARCHAR, position INTEGER, skipped_at TIMESTAMP DEFAULT
        current_timestamp, PRIMARY KEY(rater_id, position));
    CREATE SEQUENCE session_rating_seq;
    CREATE TABLE session_ratings(seq BIGINT DEFAULT nextval('session_rating_seq'),
        session_id INTEGER, rater_id VARCHAR, position INTEGER, item_no INTEGER,
        choice VARCHAR, label VARCHAR, reason VARCHAR, likert_left INTEGER,
        likert_right INTEGER, rated_at TIMESTAMP DEFAULT current_timestamp,
        edited_at TIMESTAMP, PRIMARY KEY(rater_id, position));
    CREATE TABLE admin_credentials(id INTEGER PRIMARY KEY, password_hash VARCHAR,
        set_at TIMESTAMP DEFAULT current_timestamp);
    """)


def m002_privacy(con: duckdb.DuckDBPyConnection) -> None:
    """Privacy review: per-span decisions, kept value lists, reviewer roles."""
    con.execute("""
    CREATE SEQUENCE pii_decision_ids;
    CREATE TABLE pii_decisions(id BIGINT DEFAULT nextval('pii_decision_ids'),
        dataset_id INTEGER, example_id INTEGER, message_index INTEGER, start_char INTEGER,
        end_char INTEGER, entity_type VARCHAR, decision VARCHAR, who VARCHAR, reason VARCHAR,
        bulk VARCHAR, decided_at TIMESTAMP DEFAULT current_timestamp);
    CREATE TABLE pii_value_lists(dataset_id INTEGER, name VARCHAR, entity_type VARCHAR,
        decision VARCHAR, value_list VARCHAR, who VARCHAR,
        created_at TIMESTAMP DEFAULT current_timestamp);
    CREATE TABLE privacy_roles(name VARCHAR PRIMARY KEY, role VARCHAR, granted_by VARCHAR,
        granted_at TIMESTAMP DEFAULT current_timestamp);
    CREATE TABLE privacy_secrets(name VARCHAR PRIMARY KEY, value VARCHAR);
    """)


def m006_curation_dedup(con: duckdb.DuckDBPyConnection) -> None:
    """Dedup overrides (re-applied after every dedup run) and the leakage report."""
    con.execute("""
    CREATE TABLE dup_overrides(decision_id BIGINT, dataset_id INTEGER, level VARCHAR,
        action VARCHAR, example_id INTEGER, representative_id INTEGER);
    CREATE TABLE leakage(dataset_id INTEGER, example_id INTEGER, split VARCHAR,
        nearest_train_id INTEGER, similarity DOUBLE, threshold DOUBLE, above BOOLEAN);
    """)


def m003_training(con: duckdb.DuckDBPyConnection) -> None:
    """Per-step progress of training runs (epoch, learning rate, tokens/s, validation loss)."""
    con.execute("""
    ALTER TABLE train_log ADD COLUMN epoch DOUBLE;
    ALTER TABLE train_log ADD COLUMN lr DOUBLE;
    ALTER TABLE train_log ADD COLUMN tokens INTEGER;
    ALTER TABLE train_log ADD COLUMN tokens_per_s DOUBLE;
    ALTER TABLE train_log ADD COLUMN elapsed_s DOUBLE;
    ALTER TABLE train_log ADD COLUMN val_loss DOUBLE;
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


def m008_embedding_cache(con: duckdb.DuckDBPyConnection) -> None:
    """Sentence embeddings already computed, keyed by what determines them
    (workbench.store.embeddings): model id, backend, token window, SHA-256 of the text."""
    con.execute("""
    CREATE TABLE embedding_cache(model_id VARCHAR, backend VARCHAR, max_seq_length INTEGER,
        text_sha256 VARCHAR, vector FLOAT[384],
        created_at TIMESTAMP DEFAULT current_timestamp,
        PRIMARY KEY(model_id, backend, max_seq_length, text_sha256));
    """)


def m009_drop_unused_rating_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Drop ``rating_items`` and ``ratings`` (from m001): no code reads or writes them; rating
    sessions keep their items and ratings in the m004 tables."""
    con.execute("""
    DROP TABLE IF EXISTS rating_items;
    DROP TABLE IF EXISTS ratings;
    """)


def m010_pii_phone_region(con: duckdb.DuckDBPyConnection) -> None:
    """A PHONE_NUMBER finding's region (ISO 3166 alpha-2, curation.pii_phone) and whether it
    was assumed (a national number without a country code); NULL for other findings."""
    con.execute("""
    ALTER TABLE pii_spans ADD COLUMN region VARCHAR;
    ALTER TABLE pii_spans ADD COLUMN region_assumed BOOLEAN;
    """)


def m011_login_guard(con: duckdb.DuckDBPyConnection) -> None:
    """Failed logins per kind (admin password, rater token) across browser sessions, and the
    invite links already exchanged for a session (by token hash); owner: store/auth.py."""
    con.execute("""
    CREATE TABLE login_failures(kind VARCHAR PRIMARY KEY, failures INTEGER,
        locked_until DOUBLE, refused INTEGER DEFAULT 0);
    CREATE TABLE invite_links_used(token_hash VARCHAR PRIMARY KEY,
        used_at TIMESTAMP DEFAULT current_timestamp);
    """)


def m012_quality_signals(con: duckdb.DuckDBPyConnection) -> None:
    """Quality signals per example (owner: store/quality.py): heuristics,
    flags from validation findings, the model-based perplexities and IFD with the model
    that scored them, and why a row has no model score."""
    con.execute("""
    CREATE TABLE quality_signals(dataset_id INTEGER, example_id INTEGER,
        prompt_chars INTEGER, answer_chars INTEGER, length_ratio DOUBLE,
        dup_ngram_fraction DOUBLE, non_alnum_share DOUBLE, refusal BOOLEAN,
        boilerplate BOOLEAN, unsupported_language BOOLEAN, ppl_conditioned DOUBLE,
        ppl_answer DOUBLE, ifd DOUBLE, answer_tokens INTEGER, model_id VARCHAR,
        unscored_reason VARCHAR, unscored_detail VARCHAR,
        PRIMARY KEY(dataset_id, example_id));
    """)


def m013_current_dataset(con: duckdb.DuckDBPyConnection) -> None:
    """Workspace settings by name; ``current_dataset`` is the dataset the pages and stages
    work on (owner: ``Workspace.current_dataset``), ``current_version`` the frozen version
    the pages show with it."""
    con.execute("""
    CREATE TABLE workspace_settings(name VARCHAR PRIMARY KEY, value VARCHAR);
    """)


def m014_coverage_map(con: duckdb.DuckDBPyConnection) -> None:
    """Coverage maps (curation.coverage): per map (dataset, key = hash of the settings, the
    embedding model and the rows' texts and splits) its settings and cluster labels, and per
    row its 2-D coordinates, cluster and nearest-training cosine; owner:
    workbench/store/coverage.py."""
    con.execute("""
    CREATE TABLE coverage_maps(dataset_id INTEGER, key VARCHAR, config VARCHAR, labels VARCHAR,
        created_at TIMESTAMP DEFAULT current_timestamp, PRIMARY KEY(dataset_id, key));
    CREATE TABLE coverage_points(dataset_id INTEGER, key VARCHAR, example_id INTEGER,
        x DOUBLE, y DOUBLE, cluster INTEGER, nearest_train DOUBLE, uncovered BOOLEAN,
        PRIMARY KEY(dataset_id, key, example_id));
    """)


def m015_request_cost(con: duckdb.DuckDBPyConnection) -> None:
    """What each request of an evaluation cost: prompt tokens per generation (after the chat
    template, shots included), and each system's measured generation seconds for its
    requests on the machine that ran them; owner: store/evaluation.py."""
    con.execute("""
    ALTER TABLE generations ADD COLUMN prompt_tokens INTEGER;
    CREATE TABLE generation_timings(run_id VARCHAR, system VARCHAR, requests INTEGER,
        seconds DOUBLE, batch_size INTEGER, device VARCHAR, PRIMARY KEY(run_id, system));
    """)


def m016_prompted_generations(con: duckdb.DuckDBPyConnection) -> None:
    """Per generation of a prompted system: how many few-shot examples its prompt got
    (``shots``) and the messages sent to the model (``full_prompt``, JSON); both NULL for
    base and tuned systems, whose prompt is ``prompt``. Owner: stages/evaluation.py."""
    con.execute("""
    ALTER TABLE generations ADD COLUMN shots INTEGER;
    ALTER TABLE generations ADD COLUMN full_prompt VARCHAR;
    """)


def m017_judge_verdicts(con: duckdb.DuckDBPyConnection) -> None:
    """Pairwise judge answers: per judge run (a row of ``runs`` with kind ``judge``), item
    and order, the systems shown as A and B, the judge's raw answer and its parsed choice
    (A, B, tie; NULL when unparsed) and de-randomized label; owner: store/judge.py."""
    con.execute("""
    CREATE TABLE judge_verdicts(run_id VARCHAR, session_id INTEGER, item_no INTEGER,
        example_id INTEGER, order_no INTEGER, a_system VARCHAR, b_system VARCHAR,
        answer VARCHAR, choice VARCHAR, label VARCHAR, PRIMARY KEY(run_id, item_no, order_no));
    """)


def m018_cpu_seconds(con: duckdb.DuckDBPyConnection) -> None:
    """CPU seconds beside the wall seconds of what an evaluation's cost is computed from: per
    training step (``train_log.cpu_s``, since the training process started) and per system of
    a generate run (``generation_timings.cpu_seconds``); NULL where not recorded. Other work
    on the machine stretches wall time far more than CPU time. Owners: store/training.py,
    store/evaluation.py."""
    con.execute("""
    ALTER TABLE train_log ADD COLUMN cpu_s DOUBLE;
    ALTER TABLE generation_timings ADD COLUMN cpu_seconds DOUBLE;
    """)


MIGRATIONS = [m001_initial, m002_privacy, m003_training, m004_sessions, m005_curation_io,
              m006_curation_dedup, m007_evaluation, m008_embedding_cache,
              m009_drop_unused_rating_tables, m010_pii_phone_region, m011_login_guard,
              m012_quality_signals, m013_current_dataset, m014_coverage_map, m015_request_cost,
              m016_prompted_generations, m017_judge_verdicts, m018_cpu_seconds]


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
