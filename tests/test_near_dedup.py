import random

import numpy as np
import pytest
from datasketch import MinHash

from curation.dedup import DedupConfig, conversation_text, leader_clusters
from curation.dedup.ann import ann_leader_clusters
from curation.embed import encode
from curation.dedup.near import (
    NearDedupConfig,
    near_text_clusters,
    plain_datasketch_clusters,
    shingles,
    signatures,
)

SIXTY_ONE_WORDS = (
    "the quick brown fox jumps over a lazy dog while seven hungry cats watch from an old "
    "garden fence near one quiet river bank and some eager young farmer counts twelve red "
    "apples in its woven basket before evening rain begins to fall softly on green hills far "
    "away beyond three tall pine trees where small birds sing their morning songs").split()


def edited(words, positions, tag):
    """``words`` with the words at ``positions`` replaced by new ones (3 shingles each)."""
    return [f"{tag}{p}" if p in positions else w for p, w in enumerate(words)]


def conv(user, assistant="ok"):
    return [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]


def representatives(clusters):
    return [c.representative for c in clusters]


def test_shingles_are_word_ngrams_of_the_normalized_text():
    assert shingles("The  CAT sat\ton it", 3) == ["the cat sat", "cat sat on", "sat on it"]


def test_a_text_shorter_than_the_ngram_is_one_shorter_shingle():
    assert shingles("Maybe  so", 3) == ["maybe so"]
    assert shingles("   ", 3) == []


def test_signatures_equal_datasketch_minhash_updated_per_shingle():
    texts = [" ".join(SIXTY_ONE_WORDS), "Yes", "", "a b c d"]
    expected = []
    for text in texts:
        m = MinHash(num_perm=64, seed=7)
        for shingle in shingles(text, 3):
            m.update(shingle.encode("utf-8"))
        expected.append(m.digest())
    assert np.array_equal(signatures(texts, NearDedupConfig(num_perm=64, seed=7)),
                          np.stack(expected))


def test_planted_near_duplicate_joins_its_original():
    other = "an entirely different sentence about cooking rice in a small pot with salt"
    texts = [" ".join(SIXTY_ONE_WORDS), other, " ".join(edited(SIXTY_ONE_WORDS, {30}, "z"))]
    clusters = near_text_clusters(texts, NearDedupConfig())
    assert representatives(clusters) == [0, 1, 0]
    assert clusters[2].similarity == 0.921875  # 118 of 128 MinHash values agree


def test_short_texts_do_not_collapse_into_one_cluster():
    clusters = near_text_clusters(["Yes", "no", "YES", "Maybe so", "", " "], NearDedupConfig())
    assert representatives(clusters) == [0, 1, 0, 3, 4, 4]


def test_near_clusters_do_not_chain():
    # a~b and b~c at or above 0.65, a~c below: c must not join a's cluster through b.
    a = SIXTY_ONE_WORDS
    b = edited(a, {5, 25, 45}, "x")
    c = edited(b, {15, 35, 55}, "y")
    config = NearDedupConfig(threshold=0.65)
    texts = [" ".join(t) for t in (a, b, c)]
    sigs = signatures(texts, config)
    assert np.mean(sigs[1] == sigs[2]) >= 0.65 > np.mean(sigs[0] == sigs[2])
    clusters = near_text_clusters(texts, config)
    assert representatives(clusters) == [0, 0, 2]
    assert clusters[1].similarity == 0.7265625


def test_near_clusters_compare_role_tagged_conversations():
    rows = [conv("Tell me a joke", "no"), conv("tell me a JOKE", "no"), conv("Tell me a joke")]
    texts = [conversation_text(r) for r in rows]
    assert representatives(near_text_clusters(texts, NearDedupConfig())) == [0, 0, 2]


def test_near_clusters_equal_the_plain_datasketch_loop():
    rng = random.Random(0)
    vocabulary = [f"w{i}" for i in range(200)]
    texts = [" ".join(rng.choices(vocabulary, k=rng.randint(1, 40))) for _ in range(150)]
    for _ in range(100):
        words = rng.choice(texts).split()
        words[rng.randrange(len(words))] = rng.choice(vocabulary)
        texts.append(" ".join(words))
    config = NearDedupConfig()
    ours = near_text_clusters(texts, config)
    assert ours == plain_datasketch_clusters(texts, config)
    assert len(set(representatives(ours))) < len(texts)


def test_empty_input_gives_no_clusters():
    assert near_text_clusters([], NearDedupConfig()) == []
    assert ann_leader_clusters(np.zeros((0, 4)), 0.9) == []


def unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def planted_vectors(n=2000, d=32, seed=0):
    """Random unit vectors; a quarter are copies (cosine 0.86-1.0) of earlier rows, some of
    them copies of copies (chains), some byte-identical."""
    rng = np.random.default_rng(seed)
    x = unit(rng.normal(size=(n, d)))
    for i in rng.choice(np.arange(1, n), n // 4, replace=False):
        source = x[rng.integers(i)]
        x[i] = source if rng.random() < 0.2 else unit(
            source + rng.uniform(0.1, 0.6) * unit(rng.normal(size=d)))
    return x.astype(np.float32)


def test_ann_leader_clusters_equal_the_exact_ones_on_planted_near_copies():
    x = planted_vectors()
    exact = leader_clusters(x, 0.9)
    ann = ann_leader_clusters(x, 0.9)
    assert representatives(ann) == representatives(exact)
    assert np.allclose([c.similarity for c in ann], [c.similarity for c in exact], atol=1e-5)
    assert sum(c.index != c.representative for c in exact) > 300


def test_ann_re_searches_a_row_whose_k_neighbours_are_all_within_the_threshold():
    rng = np.random.default_rng(1)
    centre = unit(rng.normal(size=16))
    group = unit(centre + 0.05 * rng.normal(size=(60, 16)))  # 60 rows, all cosine > 0.9
    x = np.concatenate([unit(rng.normal(size=(200, 16))), group]).astype(np.float32)
    x = x[rng.permutation(len(x))]
    ann = ann_leader_clusters(x, 0.9, k=4)
    assert representatives(ann) == representatives(leader_clusters(x, 0.9))


def test_ann_leader_clustering_does_not_chain():
    a, b, c = ([np.cos(t), np.sin(t)] for t in (0.0, 0.4, 0.8))
    clusters = ann_leader_clusters(np.array([a, b, c, a], dtype=np.float32), 0.9)
    assert representatives(clusters) == [0, 0, 2, 0]


def test_ann_refuses_an_index_type_that_distorts_cosine():
    with pytest.raises(ValueError, match="dtype"):
        ann_leader_clusters(np.eye(3), 0.9, dtype="i8")


@pytest.mark.slow
def test_ann_leader_clusters_equal_the_exact_ones_on_real_embeddings():
    rows = [conv("How many grams are in a kilogram?", "There are 1000 grams in a kilogram."),
            conv("How do I boil an egg?", "Simmer it for nine minutes."),
            conv("How many grams are in one kilogram?", "There are 1000 grams in a kilogram."),
            conv("How do I boil an egg?", "Simmer it for nine minutes.")]
    config = DedupConfig()
    vectors = encode([conversation_text(r) for r in rows], config)
    ann = ann_leader_clusters(vectors, config.threshold, config.k)
    assert representatives(ann) == representatives(leader_clusters(vectors, config.threshold))
    assert representatives(ann) == [0, 1, 0, 1]
