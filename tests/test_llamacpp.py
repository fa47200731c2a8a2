"""GGUF exports in llama.cpp: chat template and Modelfile rendering, greedy agreement with
transformers, quantization, perplexity, and the OpenAI-compatible endpoint.

Tests that run llama.cpp skip when llama-cpp-python is not installed (`make llama`)."""

from __future__ import annotations

import math
import socket
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from common import errors
from tests.tiny_model import make_tiny_model
from training import llamacpp
from training.export import write_gguf, write_modelfile
from training.model import ensure_base_model, load_model, load_tokenizer

needs_llama = pytest.mark.skipif(llamacpp.missing_reason() is not None,
                                 reason=str(llamacpp.missing_reason()))
CONVERSATIONS = [[{"role": "user", "content": "What is the capital of France?"}],
                 [{"role": "system", "content": "Answer in one word."},
                  {"role": "user", "content": "Name a primary colour."}]]
OLD_TEMPLATE = """{{- if .System }}<|im_start|>system
{{ .System }}<|im_end|>
{{ end }}{{- range .Messages }}<|im_start|>{{ .Role }}
{{ .Content }}<|im_end|>
{{ end }}<|im_start|>assistant
"""


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer(ensure_base_model())


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> tuple[Path, Path]:
    """(tiny transformers folder, its F32 GGUF)."""
    folder = make_tiny_model(tmp_path_factory.mktemp("tiny-llama"))
    return folder, write_gguf(folder, folder / "model.gguf", "f32")


def test_modelfile_template_renders_as_the_chat_template_with_one_system_turn(tmp_path,
                                                                             tokenizer):
    modelfile = llamacpp.parse_modelfile(
        write_modelfile(tmp_path / "Modelfile", "./model.gguf", tokenizer).read_text())
    assert modelfile["from"] == "./model.gguf"
    assert modelfile["parameters"] == {"stop": ["<|im_end|>", "<|im_start|>"]}
    for messages in CONVERSATIONS:
        assert llamacpp.ollama_prompt(modelfile, messages) == tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=True)
    assert llamacpp.ollama_prompt(modelfile, CONVERSATIONS[1]) == (
        "<|im_start|>system\nAnswer in one word.<|im_end|>\n"
        "<|im_start|>user\nName a primary colour.<|im_end|>\n<|im_start|>assistant\n")
    # Ollama keeps system messages in .Messages: a range that does not skip them repeats it
    old = {**modelfile, "template": OLD_TEMPLATE}
    assert llamacpp.ollama_prompt(old, CONVERSATIONS[1]).count("Answer in one word.") == 2


def test_go_template_subset_trims_and_refuses_other_actions():
    data = {"Messages": [{"Role": "user", "Content": "a"}, {"Role": "system", "Content": "b"}]}
    assert llamacpp.render_go_template(
        '{{- range .Messages }} [{{ .Role }}]  {{- if eq .Role "user" }}U{{ else }}S{{ end }}'
        '{{ end }}', data) == " [user]U [system]S"
    with pytest.raises(errors.InputError, match=r"unsupported action \{\{ len .Messages \}\}"):
        llamacpp.render_go_template("{{ len .Messages }}", data)


def test_compare_greedy_reports_the_first_divergence_with_both_logit_gaps():
    ref_rows = [np.array([0.0, 3.0, 1.0]), np.array([2.5, 0.5, 2.0])]
    cpp_rows = [np.array([0.0, 3.0, 1.0]), np.array([2.0, 0.5, 2.25])]
    out = llamacpp.compare_greedy([1, 0], ref_rows, [1, 2], cpp_rows)
    assert out == {"identical_tokens": 1, "compared": 2, "diverged_at": 1,
                   "ref_gap": 0.5, "cpp_gap": 0.25}
    same = llamacpp.compare_greedy([1, 0, 2], ref_rows * 2, [1, 0], cpp_rows)
    assert (same["identical_tokens"], same["compared"], same["diverged_at"]) == (2, 2, None)


def test_answer_token_rows_start_at_the_answer(tokenizer):
    rows = llamacpp.answer_token_rows(tokenizer, [
        [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello there"}],
        [{"role": "user", "content": "no answer"}]])
    assert len(rows) == 1
    ids, start = rows[0]
    assert tokenizer.decode(ids[start:]) == "Hello there<|im_end|>\n"


@needs_llama
def test_f32_gguf_in_llama_cpp_applies_the_same_prompt_and_greedy_tokens(tiny):
    folder, gguf = tiny
    check = llamacpp.verify_in_llama_cpp(folder, gguf, CONVERSATIONS, "f32", max_new=12)
    assert check["prompt_tokens_equal"] == 2
    assert check["leaks"] == []
    assert check["divergences"] == [] and check["identical_tokens"] == check["compared"] == 24
    assert check["answers_equal"] == 2


@needs_llama
def test_llama_cpp_perplexity_equals_transformers_on_the_f32_gguf(tiny, tokenizer):
    folder, gguf = tiny
    rows = llamacpp.answer_token_rows(tokenizer, [
        [{"role": "user", "content": f"Question {i}?"},
         {"role": "assistant", "content": f"Answer number {i}."}] for i in range(3)])
    model = load_model(folder).eval()
    nll, count = 0.0, 0
    with torch.no_grad():
        for ids, start in rows:
            logits = model(torch.tensor([ids])).logits[0, start - 1:-1]
            nll += float(torch.nn.functional.cross_entropy(
                logits, torch.tensor(ids[start:]), reduction="sum"))
            count += len(ids) - start
    ppl = llamacpp.perplexity(llamacpp.load(gguf, n_ctx=256, logits_all=True), rows)
    assert ppl == pytest.approx(math.exp(nll / count), rel=1e-3)


@needs_llama
def test_quantized_files_are_smaller_and_q4_k_m_is_refused_by_another_name(tiny, tmp_path):
    folder, gguf = tiny
    q8 = llamacpp.quantize(gguf, tmp_path / "q8.gguf", "q8_0")
    q4 = llamacpp.quantize(gguf, tmp_path / "q4.gguf", "q4_k_m")
    assert gguf.stat().st_size > q8.stat().st_size > q4.stat().st_size
    assert llamacpp.load(q4).metadata["general.file_type"] == "15"
    with pytest.raises(errors.InputError, match="choose one of"):
        llamacpp.quantize(gguf, tmp_path / "x.gguf", "q3_k")


@needs_llama
def test_modelfile_check_against_llama_cpp_passes_and_catches_a_duplicated_system(tiny,
                                                                                 tmp_path,
                                                                                 tokenizer):
    folder, gguf = tiny
    llm = llamacpp.load(gguf)
    path = write_modelfile(tmp_path / "Modelfile", "./model.gguf", tokenizer)
    check = llamacpp.check_modelfile(path, llm, CONVERSATIONS)
    assert check["template_equal"] == 2 and "<|im_end|>" in check["eog_tokens"]
    text = path.read_text()
    start = text.index('TEMPLATE """') + len('TEMPLATE """')
    path.write_text(text[:start] + OLD_TEMPLATE + text[text.index('"""', start):])
    with pytest.raises(errors.StageError, match="renders conversation 0 differently from llama.cpp at character 110"):
        llamacpp.check_modelfile(path, llm, CONVERSATIONS)
    path.write_text(text.replace('PARAMETER stop "<|im_end|>"\n', ""))
    with pytest.raises(errors.StageError, match=r"stop tokens miss .*<\|im_end\|>"):
        llamacpp.check_modelfile(path, llm, CONVERSATIONS)


@needs_llama
def test_an_architecture_llama_cpp_does_not_know_is_one_clear_error(tmp_path):
    from gguf import GGUFWriter

    writer = GGUFWriter(str(tmp_path / "odd.gguf"), "notanarch")
    writer.add_tensor("x", np.zeros(4, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    with pytest.raises(errors.StageError,
                       match=r"cannot load this GGUF \(architecture 'notanarch'\)"):
        llamacpp.load(tmp_path / "odd.gguf")


def test_missing_bindings_give_the_install_command(monkeypatch):
    import builtins

    real = builtins.__import__

    def refuse(name, *args, **kwargs):
        if name == "llama_cpp":
            raise ImportError("No module named 'llama_cpp'")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", refuse)
    assert llamacpp.missing_reason() == (
        "llama.cpp bindings not importable (No module named 'llama_cpp'); install them with "
        "`make llama` (requirements-llama.txt)")


def test_a_failed_build_whose_library_does_not_load_says_how_to_rebuild(monkeypatch):
    import builtins

    real = builtins.__import__

    def broken(name, *args, **kwargs):
        if name == "llama_cpp":
            raise RuntimeError("Failed to load shared library 'libllama.so'")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", broken)
    with pytest.raises(errors.StageError, match=r"library does not load \(Failed to load "
                       r"shared library 'libllama.so'\); rebuild with `rm -f"):
        llamacpp.quantize(Path("a.gguf"), Path("b.gguf"), "q8_0")


# -- export and serve --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def exported(tmp_path_factory, tiny):
    """A workspace with a 2-step tiny run, exported (with llama.cpp when installed)."""
    from tests.prepared import prepare_workspace
    from training.config import TrainConfig
    from workbench.stages import training as train_runs
    from workbench.train_exports import export_run

    folder, _ = tiny
    ws = prepare_workspace(tmp_path_factory.mktemp("ws") / "ws", pii_reviewed=True)
    run = train_runs.launch(ws, TrainConfig(base_model=str(folder), max_steps=2,
                                            batch_size=2, learning_rate=1e-2))
    return ws, run, export_run(ws, run["run_id"])


@needs_llama
def test_export_writes_the_verification_table_of_four_gguf_types(exported):
    _, run, result = exported
    out = Path(result["gguf"]).parent
    assert sorted(p.name for p in out.glob("model*.gguf")) == [
        "model-f16.gguf", "model-q4_k_m.gguf", "model-q8_0.gguf", "model.gguf"]
    rows = result["llama_cpp"]["rows"]
    assert [r["type"] for r in rows] == ["F32", "F16", "Q8_0", "Q4_K_M"]
    assert rows[0]["identical_tokens"] == rows[0]["compared"] == 3 * llamacpp.GREEDY_TOKENS
    assert rows[0]["size_mb"] > rows[1]["size_mb"] and rows[0]["size_mb"] >= rows[3]["size_mb"]
    assert all(r["perplexity"] > 1 for r in rows)
    assert result["llama_cpp"]["modelfile"]["template_equal"] == 3


def serve_in_thread(server, sock):
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            return thread
        threading.Event().wait(0.05)
    raise AssertionError("server did not start")


@needs_llama
@pytest.mark.enable_socket
@pytest.mark.allow_hosts(["127.0.0.1"])
def test_openai_client_gets_the_in_process_greedy_answers(exported):
    from openai import OpenAI

    from training.llamacpp import reference_greedy
    from workbench.serve import chat_completion, make_server

    ws, run, result = exported
    server, sock, info = make_server(ws, run["run_id"], "f32", port=0)
    thread = serve_in_thread(server, sock)
    try:
        client = OpenAI(base_url=info["url"], api_key="local", max_retries=0)
        assert [m.id for m in client.models.list().data] == [f"{run['run_id']}-model"]
        merged = Path(result["merged"])
        tokenizer, model = load_tokenizer(merged), load_model(merged).eval()
        llm = llamacpp.load(Path(info["gguf"]))
        for messages in CONVERSATIONS:
            answer = client.chat.completions.create(model=info["model"], messages=messages,
                                                    temperature=0, max_tokens=10)
            local = chat_completion(llm, threading.Lock(), {
                "messages": messages, "temperature": 0, "max_tokens": 10})
            assert answer.choices[0].message.content == \
                local["choices"][0]["message"]["content"]
            ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True,
                                                tokenize=True, return_dict=False)
            tokens, _ = reference_greedy(model, list(ids), 10, {2})
            assert answer.choices[0].message.content == tokenizer.decode(
                [t for t in tokens if t != 2], skip_special_tokens=True)
        with pytest.raises(Exception, match="streaming is not supported"):
            client.chat.completions.create(model=info["model"], messages=CONVERSATIONS[0],
                                           stream=True)
    finally:
        server.should_exit = True
        thread.join(10)


@needs_llama
@pytest.mark.enable_socket
@pytest.mark.allow_hosts(["127.0.0.1"])
def test_serve_refuses_a_port_in_use_an_unknown_quant_and_a_run_without_adapter(exported):
    from workbench.serve import bind, make_server, resolve_gguf
    from workbench.store import open_workspace
    from workbench.store import training as store

    ws, run, _ = exported
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    port = taken.getsockname()[1]
    try:
        with pytest.raises(errors.StageError,
                           match=f"port {port} on 127.0.0.1 is in use: choose another"):
            bind(port)
    finally:
        taken.close()
    with pytest.raises(errors.InputError, match="--quant q2: choose one of f32, f16"):
        resolve_gguf(ws, run["run_id"], "q2")
    with pytest.raises(errors.StageError, match="unknown train run 'nope'"):
        make_server(ws, "nope")
    with open_workspace(ws) as handle:
        store.set_run_state(handle, run["run_id"], "failed")
    try:
        with pytest.raises(errors.StageError, match=f"run {run['run_id']} has no adapter to "
                                                    "serve \\(state failed\\)"):
            resolve_gguf(ws, run["run_id"])
    finally:
        with open_workspace(ws) as handle:
            store.set_run_state(handle, run["run_id"], "succeeded")


@needs_llama
@pytest.mark.slow
def test_embedded_model_f16_gguf_agrees_with_transformers_and_stops_at_im_end(tmp_path):
    from training.model import embedded_gguf_path

    base = ensure_base_model()
    gguf = write_gguf(base, tmp_path / "model-f16.gguf", "f16",
                      tokenizer_gguf=embedded_gguf_path())
    conversations = [[{"role": "user", "content": "What is the capital of France?"}],
                     [{"role": "user", "content": "Say hello."}]]
    check = llamacpp.verify_in_llama_cpp(base, gguf, conversations, "f16", max_new=48)
    assert check["prompt_tokens_equal"] == 2 and check["leaks"] == []
    assert check["stopped"] == 2 and check["answers_equal"] == 2
    assert check["compared"] > 0
    # F16 weights may turn a near tie of transformers' fp32 logits the other way (seen: token 9
    # of "Say hello."): every divergence must be such a near tie, else the check raised.
    assert check["identical_tokens"] == check["compared"] or all(
        d["ref_gap"] <= llamacpp.DIVERGENCE_GAP["f16"] for d in check["divergences"])
