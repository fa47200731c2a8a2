"""Near and semantic dedup against named baselines, on generated data with planted duplicates.

Run as: python bench/curation_dedup.py [--quick]

Data: conversations filled from templates with random words; then planted copies of random
earlier rows: exact copies, near copies (one or two words replaced) and paraphrase-ish
copies (the same slots in the template's paraphrase). Rows are shuffled.

(a) near: curation.near_dedup.near_text_clusters vs the plain datasketch loop
    (``plain_datasketch_clusters``: MinHash.update per shingle, MinHashLSH query + insert):
    time ratio and whether the clusters are identical.
(b) semantic: ours (each distinct text embedded once, sentence-transformers' length-sorted
    batches, usearch HNSW leader clusters, threshold 0.95) vs ``SentenceTransformer.encode``
    + ``sentence_transformers.util.paraphrase_mining`` with its defaults (pairs ≥ 0.95):
    speed ratio, recall of planted pairs relative to the baseline, growth exponent of time
    vs n (log-log slope between the two sizes), and the clustering stage alone (ANN vs the
    exact blocked leader_clusters vs paraphrase_mining_embeddings, on the same vectors).
    A planted pair counts as found by ours when both rows are in one cluster: without
    chaining, a pair ≥ threshold can still be split when its rows join different leaders.

(c) the clustering stage alone on synthetic 384-d vectors (intrinsic dimension 32, planted
    near-copies), at sizes where the n² of the exact methods shows.

Sizes: near 10k and 100k (--quick: 2k and 10k); semantic 10k and 100k (--quick: 300 and 1k,
as encoding dominates: the full run takes over an hour on 2 cores); (c) 20k and 100k
(--quick: 4k and 16k).

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

from curation.ann import ann_leader_clusters  # noqa: E402
from curation.dedup import (DedupConfig, conversation_text, leader_clusters,  # noqa: E402
                            load_embedder)
from curation.near_dedup import (NearDedupConfig, near_text_clusters,  # noqa: E402
                                 plain_datasketch_clusters)

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
            copy = {"exact": lambda: rows[source],
                    "near": lambda: _near_copy(rows[source], rng),
                    "paraphrase": lambda: _conversation(TEMPLATES[template][1], slots)}[kind]()
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


def bench_near(texts: list[str], planted) -> dict:
    config = NearDedupConfig()
    ours, t_ours = timed(near_text_clusters, texts, config)
    plain, t_plain = timed(plain_datasketch_clusters, texts, config)
    return {"ours_s": round(t_ours, 3), "plain_datasketch_s": round(t_plain, 3),
            "speedup": round(t_plain / t_ours, 1), "identical_clusters": ours == plain,
            "clusters": len({c.representative for c in ours}),
            "planted_recall": recall_by_kind(same_cluster_pairs(ours, planted), planted)}


def semantic_ours(texts: list[str], threshold: float):
    """Distinct texts embedded once (encode sorts by length), then ANN leader clusters."""
    distinct = {t: i for i, t in enumerate(dict.fromkeys(texts))}
    vectors, t_embed = timed(load_embedder().encode, list(distinct), batch_size=64,
                             normalize_embeddings=True, convert_to_numpy=True)
    vectors = vectors[[distinct[t] for t in texts]]
    clusters, t_cluster = timed(ann_leader_clusters, vectors, threshold)
    return clusters, vectors, {"embed_s": t_embed, "cluster_s": t_cluster,
                               "distinct_texts": len(distinct)}


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


def bench_semantic(texts: list[str], planted, threshold: float) -> dict:
    clusters, vectors, ours = semantic_ours(texts, threshold)
    ours_s = ours["embed_s"] + ours["cluster_s"]
    log(f"  ours {ours_s:.1f}s ({ours['distinct_texts']} distinct texts); baseline ...")
    base_pairs, base_s = semantic_baseline(texts, threshold)
    ours_found = same_cluster_pairs(clusters, planted)
    base_found = {(i, j) for i, j, _ in planted if (i, j) in base_pairs}
    return {"ours_s": round(ours_s, 2), "ours_embed_s": round(ours["embed_s"], 2),
            "ours_cluster_s": round(ours["cluster_s"], 3),
            "distinct_texts": ours["distinct_texts"], "baseline_s": round(base_s, 2),
            "speedup": round(base_s / ours_s, 2),
            "planted_recall_ours": recall_by_kind(ours_found, planted),
            "planted_recall_baseline": recall_by_kind(base_found, planted),
            "recall_relative_to_baseline": round(len(ours_found & base_found)
                                                 / max(len(base_found), 1), 4),
            "cluster_stage": cluster_stage(vectors, threshold)}


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="near 2k/10k, semantic 300/1k (about 2 minutes on 2 idle cores)")
    parser.add_argument("--semantic-sizes", type=int, nargs=2, default=None,
                        help="override the two semantic sizes (encoding dominates)")
    args = parser.parse_args()
    near_sizes = [2_000, 10_000] if args.quick else [10_000, 100_000]
    # MiniLM encodes ~25-60 conversations/s on 2 cores and both methods encode every size:
    # 2k + 10k would take ~10 minutes, so --quick measures semantic dedup on smaller sizes.
    semantic_sizes = args.semantic_sizes or ([300, 1_000] if args.quick else [10_000, 100_000])
    scaling_sizes = [4_000, 16_000] if args.quick else [20_000, 100_000]
    threshold = DedupConfig().threshold
    result = {"near": {}, "semantic": {}, "threshold_near": NearDedupConfig().threshold,
              "threshold_semantic": threshold}
    for n in near_sizes:
        rows, planted = make_rows(n, seed=n)
        log(f"near dedup, n={n} ...")
        result["near"][str(n)] = bench_near([conversation_text(r) for r in rows], planted)
        log(f"  {result['near'][str(n)]}")
    load_embedder()  # model loading is not part of either method's time
    for n in semantic_sizes:
        rows, planted = make_rows(n, seed=n)
        log(f"semantic dedup, n={n} ...")
        result["semantic"][str(n)] = bench_semantic([conversation_text(r) for r in rows],
                                                    planted, threshold)
        log(f"  {result['semantic'][str(n)]}")
    for key in ("ours_s", "baseline_s"):
        result["semantic"][f"growth_exponent_{key[:-2]}"] = slope(
            semantic_sizes, [result["semantic"][str(n)][key] for n in semantic_sizes])
    result["cluster_stage_synthetic"] = cluster_scaling(scaling_sizes, threshold)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
