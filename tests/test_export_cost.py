"""OpenAI token counts and cost as the data-prep guide computes them, offline."""

import socket

from curation.cost import (
    CostConfig,
    default_epochs,
    estimate,
    get_encoding,
    num_tokens_from_messages,
)
from curation.formats import read_file


def test_epoch_rule_raises_to_100_examples_lowers_to_25000_and_stays_in_1_to_25():
    assert [default_epochs(n) for n in (1, 3, 5, 33, 34, 8333, 8334, 12500, 30000)] == [
        25, 25, 20, 3, 3, 3, 2, 2, 1]


def test_guide_message_count_adds_3_per_message_1_per_name_and_3_for_the_reply():
    plain = [{"role": "user", "content": "hello world"}]
    named = [{"role": "user", "content": "hello world", "name": "ana"}]
    # 3 (reply priming) + 3 (message) + "user" 1 + "hello world" 2
    assert num_tokens_from_messages(plain) == 9
    # + "ana" 1 + tokens_per_name 1
    assert num_tokens_from_messages(named) == 11


def test_both_openai_encodings_load_with_the_network_refused(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("network disabled")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    get_encoding.cache_clear()
    assert get_encoding("cl100k_base").encode("hello world") == [15339, 1917]
    assert get_encoding("o200k_base").encode("hello world") == [24912, 2375]


def test_toy_file_gives_the_guides_published_figures(shared_data):
    conversations = [e.messages for e in
                     read_file(shared_data / "openai_chat_toy_fine_tuning.jsonl").examples]
    # The guide's sample output (4,096-token cap of its earlier text): ~4306 tokens per
    # epoch, 20 epochs, ~86120 billed tokens.
    old = estimate(conversations, CostConfig(max_tokens_per_example=4096))
    assert (old["billing_tokens_per_epoch"], old["epochs"], old["billed_tokens"]) == (
        4306, 20, 86120)
    assert (old["tokens"]["min"], old["tokens"]["max"]) == (26, 8032)
    now = estimate(conversations)  # 16,385-token cap: row 5 (8,032 tokens) is billed whole
    assert (now["billing_tokens_per_epoch"], now["billed_tokens"], now["cost_usd"]) == (
        8242, 164840, 0.4945)


def test_estimate_of_nothing_is_zero():
    result = estimate([])
    assert (result["n_examples"], result["epochs"], result["billed_tokens"],
            result["cost_usd"]) == (0, 0, 0, 0.0)
