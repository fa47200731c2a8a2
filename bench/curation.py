"""Curation benchmark: semantic dedup, near dedup and split, each against a named baseline.

Run as: python bench/curation.py [--quick]

Data: conversations filled from templates with random words; then planted copies of random
earlier rows: exact copies, near copies (one or two words replaced) and paraphrase-ish
copies (the same slots in the template's paraphrase). Rows are shuffled.

(a) semantic: ours (curation.embed: each distinct text embedded once, length-sorted
    batches, the default backend ``openvino``: the model exported to ONNX, OpenVINO CPU in
    bf16; --backends adds others; then curation.dedup.ann's HNSW leader clusters, threshold
    0.95)
    vs ``SentenceTransformer.encode`` + ``sentence_transformers.util.paraphrase_mining``
    with its defaults (fp32, batch 32, window 256; pairs ≥ 0.95 count as found): speed
    ratio; recall of planted pairs relative to the baseline's (see bench_semantic: the goal
    uses "resolved", not both rows kept, which is what dedup is for; "pairs" isolates the
    encoder; "same cluster" is stricter than the baseline's rule); and the growth exponent
    of time vs n (log-log slope between the smallest and largest size). Model loading,
    ONNX export and compilation are outside both timings. Above --baseline-max rows
    (10k) the baseline is not run: ours only, ratio null with the reason.
(b) near: curation.dedup.near.near_text_clusters vs the plain datasketch loop (MinHash.update
    per shingle, MinHashLSH query + insert): time ratio and whether the clusters are identical.
(c) split: 2M rows (id, duplicate group, category) from Parquet to a stored split (Parquet of
    id, split): ours = workbench.store.splits.split_select in DuckDB over read_parquet, vs
    pandas.read_parquet + scikit-learn GroupShuffleSplit (test, then validation) + to_parquet.
    Neither is stratified; both read the columns they use (id, group_id). Each run is its
    own process; time is read → split → write (imports and the split-size count after the
    write are outside); peak memory is that process's VmHWM. Ours and the baseline run
    alternately, three times each (--quick: twice); the figures are each side's fastest run
    and its highest peak memory (the machine is shared: the minimum is the least disturbed).
(d) the clustering stage alone on synthetic 384-d vectors (ANN vs exact leader vs
    paraphrase_mining_embeddings), at sizes where the n² of the exact methods shows.

Sizes: semantic 10k (baseline too) and 100k (ours only) (--quick: 200 and 600 with the
baseline; --semantic-sizes overrides); near 10k and 100k
(--quick: 2k and 10k); split 2M rows (--quick: 200k); (d) 20k and 100k (--quick: 4k, 16k).

Progress goes to stderr; the last stdout line is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

try:  # before usearch (curation.dedup.ann): the other order crashes, see curation.embed
    import onnxruntime  # noqa: F401
except ImportError:
    pass

from curation.dedup.ann import ann_leader_clusters  # noqa: E402
from curation.dedup import DedupConfig, conversation_text, leader_clusters  # noqa: E402
from curation.embed import BACKENDS, embed, load_embedder  # noqa: E402
from curation.dedup.near import (  # noqa: E402
    NearDedupConfig,
    near_text_clusters,
    plain_datasketch_clusters,
)

NOUNS = ("bread garden bicycle river laptop window violin kettle lantern carpet engine "
         "tomato ladder mirror harbor pencil teapot blanket camera wallet drum fence "
         "rocket saddle button candle bridge forest basket helmet").split()
VERBS = ("clean fix paint build repair measure polish store sharpen protect replace "
         "decorate inspect move fold test assemble wash dry label").split()
ADJECTIVES = ("old small heavy rusty wooden bright quiet narrow fragile shiny cheap "
              "modern dusty broken warm").split()
TOOLS = ("a soft cloth, warm water, a small brush, fine sandpaper, a screwdriver, some glue, "
         "a sharp knife, a damp sponge, a measuring tape, strong tape").split(", ")

# (prompt, answer) and its paraphrase: same slots, different wording.
TEMPLATES = [
    (("How do I {verb} a {adj} {noun}?",
      "To {verb} a {adj} {noun}, start with {tool} and work slowly from one end to the "
      "other. Check the {noun2} every few minutes and stop if anything looks {adj2}."),
     ("What is the best way to {verb} a {adj} {noun}?",
      "Work slowly from one end to the other with {tool} when you {verb} a {adj} {noun}. "
      "Look at the {noun2} every few minutes and stop once anything seems {adj2}.")),
    (("Can you explain why my {noun} gets {adj} after I {verb} it?",
      "A {noun} often turns {adj} because the {noun2} traps moisture. Next time you {verb} "
      "it, use {tool} and let it rest for an hour before you touch it again."),
     ("Why does my {noun} become {adj} after I {verb} it?",
      "Moisture trapped by the {noun2} is the usual reason a {noun} turns {adj}. Use {tool} "
      "the next time you {verb} it and leave it for an hour before touching it.")),
    (("Write a short note asking my neighbour to {verb} the {noun}.",
      "Hi! Could you please {verb} the {adj} {noun} near the {noun2} this weekend? I left "
      "{tool} by the door. Thank you so much, it really helps."),
     ("Draft a brief message asking my neighbour to {verb} the {noun}.",
      "Hello! Would you be able to {verb} the {adj} {noun} next to the {noun2} this "
      "weekend? {tool} is by the door. Many thanks, that helps a lot.")),
    (("List three tips to {verb} a {noun} without damaging it.",
      "First, use {tool} instead of anything {adj}. Second, keep the {noun2} away from the "
      "{noun}. Third, {verb} it in short sessions and let it cool between them."),
     ("Give me three ways to {verb} a {noun} safely.",
      "One, pick {tool} rather than something {adj}. Two, keep the {noun} away from the "
      "{noun2}. Three, {verb} it in short rounds and let it cool in between.")),
]


def _slots(rng: random.Random) -> dict:
    return {"noun": rng.choice(NOUNS), "noun2": rng.choice(NOUNS), "verb": rng.choice(VERBS),
            "adj": rng.choice(ADJECTIVES), "adj2": rng.choice(ADJECTIVES),
            "tool": rng.choice(TOOLS)}


def _conversation(template: tuple[str, str], slots: dict) -> list[dict]:
    return [{"role": "user", "content": template[0].format(**slots)},
            {"role": "assistant", "content": template[1].format(**slots)}]


def _near_copy(messages: list[dict], rng: random.Random) -> list[dict]:
    """The same conversation with one or two words of the answer replaced."""
    words = messages[1]["content"].split()
    for _ in range(rng.choice((1, 2))):
        words[rng.randrange(len(words))] = rng.choice(NOUNS + VERBS)
    return [messages[0], {"role": "assistant", "content": " ".join(words)}]


def make_rows(n: int, seed: int = 0) -> tuple[list[list[dict]], list[tuple[int, int, str]]]:
    """(conversations, planted pairs (i < j, kind)): 70% originals, 10% of each copy kind."""
    rng = random.Random(seed)
    rows, origin = [], []  # origin: (template, slots) of each original, None for copies
    planted = []
    for _ in range(n - 3 * (n // 10)):
        template, slots = rng.randrange(len(TEMPLATES)), _slots(rng)
        rows.append(_conversation(TEMPLATES[template][0], slots))
        origin.append((template, slots))
    originals = len(rows)
    for kind in ("exact", "near", "paraphrase"):
        for _ in range(n // 10):
            source = rng.randrange(originals)
            template, slots = origin[source]
            if kind == "exact":
                copy = rows[source]
            elif kind == "near":
                copy = _near_copy(rows[source], rng)
            else:
                copy = _conversation(TEMPLATES[template][1], slots)
            planted.append((source, len(rows), kind))
            rows.append(copy)
    order = list(range(len(rows)))
    rng.shuffle(order)
    position = {old: new for new, old in enumerate(order)}
    pairs = [(*sorted((position[a], position[b])), kind) for a, b, kind in planted]
    return [rows[i] for i in order], pairs


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def timed(function, *args, **kwargs):
    start = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - start


def recall_by_kind(found: set[tuple[int, int]], planted: list[tuple[int, int, str]]) -> dict:
    kinds = sorted({kind for _, _, kind in planted}) + ["all"]
    out = {}
    for kind in kinds:
        pairs = [(i, j) for i, j, k in planted if kind in (k, "all")]
        out[kind] = round(sum(p in found for p in pairs) / len(pairs), 4)
    return out


def same_cluster_pairs(clusters, planted) -> set[tuple[int, int]]:
    return {(i, j) for i, j, _ in planted
            if clusters[i].representative == clusters[j].representative}


def not_both_kept(clusters, planted) -> set[tuple[int, int]]:
    """Planted pairs that dedup resolved: not both rows kept as representatives (one joined
    a cluster, possibly another leader's than its original's)."""
    kept = {c.index for c in clusters if c.index == c.representative}
    return {(i, j) for i, j, _ in planted if not (i in kept and j in kept)}


def bench_near(texts: list[str], planted) -> dict:
    config = NearDedupConfig()
    ours, t_ours = timed(near_text_clusters, texts, config)
    plain, t_plain = timed(plain_datasketch_clusters, texts, config)
    return {"ours_s": round(t_ours, 3), "plain_datasketch_s": round(t_plain, 3),
            "speedup": round(t_plain / t_ours, 1), "identical_clusters": ours == plain,
            "clusters": len({c.representative for c in ours}),
            "planted_recall": recall_by_kind(same_cluster_pairs(ours, planted), planted)}


def semantic_ours(texts: list[str], threshold: float, backend: str):
    """curation.embed (distinct texts once, ``backend``), then ANN leader clusters."""
    vectors, t_embed = timed(embed, texts, 64, backend)
    clusters, t_cluster = timed(ann_leader_clusters, vectors, threshold)
    return clusters, vectors, {"embed_s": t_embed, "cluster_s": t_cluster,
                               "distinct_texts": len(set(texts))}


def semantic_baseline(texts: list[str], threshold: float):
    """paraphrase_mining with its defaults; pairs scoring ≥ threshold count as found."""
    from sentence_transformers.util import paraphrase_mining

    pairs, seconds = timed(paraphrase_mining, load_embedder(), texts)
    return {(min(i, j), max(i, j)) for score, i, j in pairs if score >= threshold}, seconds


def cluster_stage(vectors, threshold: float) -> dict:
    """The clustering stage alone on the same vectors: ANN, exact blocked, paraphrase mining."""
    import torch
    from sentence_transformers.util import paraphrase_mining_embeddings

    ann, t_ann = timed(ann_leader_clusters, vectors, threshold)
    exact, t_exact = timed(leader_clusters, vectors, threshold)
    _, t_mining = timed(paraphrase_mining_embeddings, torch.from_numpy(vectors))
    return {"ann_s": round(t_ann, 3), "exact_leader_s": round(t_exact, 3),
            "paraphrase_mining_embeddings_s": round(t_mining, 3),
            "ann_equals_exact": [c.representative for c in ann]
            == [c.representative for c in exact],
            "rows_differing_from_exact": sum(a.representative != e.representative
                                             for a, e in zip(ann, exact))}


def bench_semantic(texts: list[str], planted, threshold: float, backends: list[str],
                   baseline: bool = True) -> dict:
    """Ours per backend and (when ``baseline``) the baseline on the same texts.

    Recall figures, each relative to the baseline's (``*_vs_baseline``):
    - ``resolved`` (the goal's measure: a planted pair dedup took care of, i.e. not both rows
      kept; for the baseline, the later row of each pair it found is dropped);
    - ``pairs``: planted pairs whose cosine in our vectors is ≥ threshold (the baseline's own
      rule, so this isolates the encoder);
    - ``planted_recall`` / ``recall_vs_baseline``: both rows in one cluster (stricter: the
      leader rule does not chain, so a copy may join another leader than its original's).
    Without ``baseline`` the ratios are null and ``baseline_skipped`` says why.
    """
    out: dict = {}
    if baseline:
        log("  baseline (encode + paraphrase_mining) ...")
        base_pairs, base_s = semantic_baseline(texts, threshold)
        base_found = {(i, j) for i, j, _ in planted if (i, j) in base_pairs}
        dropped = {j for _, j in base_pairs}  # dedup by pairs: drop the later row of a pair
        base_resolved = {(i, j) for i, j, _ in planted if i in dropped or j in dropped}
        out = {"baseline_s": round(base_s, 2),
               "planted_recall_baseline": recall_by_kind(base_found, planted),
               "planted_resolved_baseline": recall_by_kind(base_resolved, planted)}
        log(f"  baseline: {out}")

    def ratio(ours: dict, key: str):
        return round(ours["all"] / max(out[key]["all"], 1e-9), 4) if baseline else None

    for backend in backends:
        clusters, vectors, ours = semantic_ours(texts, threshold, backend)
        ours_s = ours["embed_s"] + ours["cluster_s"]
        found = same_cluster_pairs(clusters, planted)
        recall = recall_by_kind(found, planted)
        resolved = recall_by_kind(not_both_kept(clusters, planted), planted)
        pairs = recall_by_kind({(i, j) for i, j, _ in planted
                                if float(vectors[i] @ vectors[j]) >= threshold}, planted)
        out[backend] = {
            "ours_s": round(ours_s, 2), "embed_s": round(ours["embed_s"], 2),
            "cluster_s": round(ours["cluster_s"], 3), "distinct_texts": ours["distinct_texts"],
            "texts_per_s": round(len(texts) / ours_s, 1),
            "speedup": round(out["baseline_s"] / ours_s, 2) if baseline else None,
            "planted_resolved": resolved,
            "resolved_vs_baseline": ratio(resolved, "planted_resolved_baseline"),
            "planted_pairs_at_threshold": pairs,
            "pairs_vs_baseline": ratio(pairs, "planted_recall_baseline"),
            "planted_recall": recall,
            "recall_vs_baseline": ratio(recall, "planted_recall_baseline")}
        log(f"  {backend}: {out[backend]}")
    if not baseline:
        out["baseline_skipped"] = None  # filled in by the caller, which knows the sizes
    return out


def run_semantic(sizes: list[int], baseline_max: int, threshold: float,
                 backends: list[str]) -> dict:
    """bench_semantic at each size; the baseline only up to ``baseline_max`` rows.

    A size above it reports ours only, with the ratios null and the reason; the baseline's
    time there is never extrapolated. Growth exponents: log-log slope of time vs n between
    the smallest and largest size each method ran at (null when it ran at one size).
    """
    for backend in backends:  # loading, exporting, converting, warming up: outside timings
        embed([f"warm up {i}" for i in range(64)], 64, backend)
    load_embedder().encode(["warm up"] * 64)
    out: dict = {"backends_measured": backends}
    for n in sizes:
        rows, planted = make_rows(n, seed=n)
        log(f"semantic dedup, n={n} ...")
        with_baseline = n <= baseline_max
        out[str(n)] = bench_semantic([conversation_text(r) for r in rows], planted,
                                     threshold, backends, with_baseline)
        if not with_baseline:
            ran = [m for m in sizes if m <= baseline_max]
            last = out[str(ran[-1])]["baseline_s"] if ran else None
            out[str(n)]["baseline_skipped"] = (
                f"baseline not run above {baseline_max} rows: at {ran[-1]} rows it took "
                f"{last} s and it grows at least linearly (encoding), so {n} rows would "
                f"take over {round(last * n / ran[-1])} s on this machine; ratios are null, "
                "not extrapolated" if ran else f"baseline not run above {baseline_max} rows")
    base_sizes = [n for n in sizes if n <= baseline_max]
    out["growth_exponent_baseline"] = slope(
        [base_sizes[0], base_sizes[-1]],
        [out[str(base_sizes[0])]["baseline_s"], out[str(base_sizes[-1])]["baseline_s"]]
    ) if len(base_sizes) >= 2 else None
    for backend in backends:
        out[f"growth_exponent_{backend}"] = slope(
            [sizes[0], sizes[-1]],
            [out[str(sizes[0])][backend]["ours_s"], out[str(sizes[-1])][backend]["ours_s"]])
    return out


def synthetic_vectors(n: int, d: int = 384, seed: int = 0) -> np.ndarray:
    """Unit vectors of intrinsic dimension 32 (like sentence embeddings, unlike Gaussian
    noise), a quarter of them near-copies (cosine 0.86-1.0) of earlier rows."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 32)) @ rng.normal(size=(32, d))
    for i in rng.choice(np.arange(1, n), n // 4, replace=False):
        x[i] = x[rng.integers(i)] * rng.uniform(0.9, 1.1) + rng.uniform(0, 0.6) * np.linalg.norm(
            x[i]) / np.sqrt(d) * rng.normal(size=d)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def cluster_scaling(sizes: list[int], threshold: float) -> dict:
    """The clustering stage alone on synthetic vectors large enough for n² to show."""
    out = {}
    for n in sizes:
        log(f"clustering stage on {n} synthetic vectors ...")
        out[str(n)] = cluster_stage(synthetic_vectors(n, seed=n), threshold)
        log(f"  {out[str(n)]}")
    for key in ("ann_s", "exact_leader_s", "paraphrase_mining_embeddings_s"):
        out[f"growth_exponent_{key[:-2]}"] = slope(sizes, [out[str(n)][key] for n in sizes])
    return out


def slope(n: list[int], seconds: list[float]) -> float:
    """Growth exponent: log-log slope of time vs n between the two sizes."""
    return round(math.log(seconds[1] / seconds[0]) / math.log(n[1] / n[0]), 2)


def write_split_rows(path: Path, n: int, seed: int = 0) -> None:
    """Parquet of n rows: id, group (~20% of rows in groups of 2-5), category (7 values)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    sizes = np.where(rng.random(n) < 0.07, rng.integers(2, 6, n), 1)
    group = np.repeat(np.arange(n), sizes)[:n]
    rng.shuffle(group)
    categories = np.array(["open_qa", "closed_qa", "brainstorming", "classification",
                           "summarization", "information_extraction", "general_qa"])
    pq.write_table(pa.table({"id": np.arange(n, dtype=np.int64), "group_id": group,
                             "category": categories[rng.integers(0, 7, n)]}), path)


def split_ours(source: str, target: str) -> None:
    """workbench.store.splits.split_select in DuckDB over the Parquet file → Parquet
    (id, split)."""
    import duckdb

    from workbench.store.splits import split_select

    members = (f"SELECT id, group_id, group_id AS root_key, '' AS stratum "
               f"FROM read_parquet('{source}')")
    con = duckdb.connect()
    select, params = split_select(con, members, {}, seed=0, validation=0.1, test=0.1)
    con.execute(f"COPY ({select}) TO '{target}' (FORMAT parquet)", params)


def split_baseline(source: str, target: str) -> None:
    """pandas + GroupShuffleSplit: test 10%, then validation 10% of all from the rest."""
    import pandas as pd
    from sklearn.model_selection import GroupShuffleSplit

    frame = pd.read_parquet(source, columns=["id", "group_id"])
    rest, test = next(GroupShuffleSplit(1, test_size=0.1, random_state=0)
                      .split(frame, groups=frame["group_id"]))
    split = np.full(len(frame), "train", dtype=object)
    split[test] = "test"
    _, val = next(GroupShuffleSplit(1, test_size=0.1 / 0.9, random_state=0)
                      .split(rest, groups=frame["group_id"].to_numpy()[rest]))
    split[rest[val]] = "validation"
    pd.DataFrame({"id": frame["id"], "split": split}).to_parquet(target)


def split_worker(kind: str, source: str, target: str) -> None:
    """Child process: import, then time one split method; print its figures as JSON."""
    function = {"ours": split_ours, "baseline": split_baseline}[kind]
    if kind == "baseline":  # pandas reads Parquet through pyarrow, imported on first use
        import pandas  # noqa: F401
        import pyarrow.parquet  # noqa: F401
        import sklearn.model_selection  # noqa: F401
    else:
        import duckdb  # noqa: F401

        import workbench.store.splits  # noqa: F401
    _, seconds = timed(function, source, target)
    peak = peak_rss_mb()
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    counts = pc.value_counts(pq.read_table(target, columns=["split"])["split"]
                             .cast("string")).to_pylist()
    print(json.dumps({"seconds": round(seconds, 3), "peak_rss_mb": peak,
                      "counts": {c["values"]: c["counts"] for c in counts}}))


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM; ru_maxrss would carry the parent's peak
    across exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError("no VmHWM in /proc/self/status")


def bench_split(n: int, folder: Path, repeats: int = 3) -> dict:
    """Ours and the baseline alternately, ``repeats`` times each, every run in a fresh
    process: each side's fastest time and highest peak memory, and their ratios."""
    import subprocess

    source = folder / "rows.parquet"
    write_split_rows(source, n)
    runs = {"ours": [], "baseline": []}
    for _ in range(repeats):
        for kind, figures in runs.items():
            result = subprocess.run([sys.executable, __file__, "--split-worker", kind,
                                     str(source), str(folder / f"{kind}.parquet")],
                                    capture_output=True, text=True, check=True)
            figures.append(json.loads(result.stdout.strip().splitlines()[-1]))
    out = {"rows": n, "repeats": repeats}
    for kind, figures in runs.items():
        out[kind] = {"seconds": min(f["seconds"] for f in figures),
                     "seconds_all": [f["seconds"] for f in figures],
                     "peak_rss_mb": max(f["peak_rss_mb"] for f in figures),
                     "counts": figures[0]["counts"]}
    out["speedup"] = round(out["baseline"]["seconds"] / out["ours"]["seconds"], 2)
    out["peak_memory_ratio"] = round(out["ours"]["peak_rss_mb"]
                                     / out["baseline"]["peak_rss_mb"], 2)
    return out


def main() -> None:
    import tempfile

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (under 2 minutes)")
    parser.add_argument("--semantic-sizes", type=int, nargs=2, default=None,
                        help="override the two semantic sizes (encoding dominates)")
    parser.add_argument("--backends", nargs="+", default=[DedupConfig().backend],
                        choices=BACKENDS, help="encoder backends of ours to measure")
    parser.add_argument("--baseline-max", type=int, default=10_000,
                        help="largest semantic size at which the baseline runs (above it: "
                             "ours only, ratio null)")
    parser.add_argument("--skip", nargs="*", default=[],
                        choices=["semantic", "near", "split", "cluster_stage"])
    parser.add_argument("--split-worker", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.split_worker:
        return split_worker(*args.split_worker)
    near_sizes = [2_000, 10_000] if args.quick else [10_000, 100_000]
    semantic_sizes = args.semantic_sizes or ([200, 600] if args.quick else [10_000, 100_000])
    scaling_sizes = [4_000, 16_000] if args.quick else [20_000, 100_000]
    split_rows = 200_000 if args.quick else 2_000_000
    threshold = DedupConfig().threshold
    result = {"threshold_near": NearDedupConfig().threshold, "threshold_semantic": threshold}
    if "semantic" not in args.skip:
        result["semantic"] = run_semantic(semantic_sizes, args.baseline_max, threshold,
                                          args.backends)
    if "near" not in args.skip:
        result["near"] = {}
        for n in near_sizes:
            rows, planted = make_rows(n, seed=n)
            log(f"near dedup, n={n} ...")
            result["near"][str(n)] = bench_near([conversation_text(r) for r in rows], planted)
            log(f"  {result['near'][str(n)]}")
    if "split" not in args.skip:
        log(f"split, {split_rows} rows ...")
        with tempfile.TemporaryDirectory() as folder:
            result["split"] = bench_split(split_rows, Path(folder), 2 if args.quick else 3)
        log(f"  {result['split']}")
    if "cluster_stage" not in args.skip:
        result["cluster_stage_synthetic"] = cluster_scaling(scaling_sizes, threshold)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
