"""A GGUF export run in llama.cpp (llama-cpp-python): verified, quantized, measured.

- ``verify_in_llama_cpp``: load the GGUF in ``llama_cpp.Llama``, render a few held-out
  conversations with the chat template llama.cpp applies (the one in the GGUF's
  ``tokenizer.chat_template``, through llama-cpp-python's chat handler), check the prompt
  tokens equal transformers' ``apply_chat_template`` ids, decode greedily in both engines and
  compare token by token (the first divergence reported with the logit gap), and check that
  ``create_chat_completion`` stops at the end-of-turn token with no template text in the answer.
- ``check_modelfile``: the Ollama Modelfile's TEMPLATE rendered as Ollama renders it
  (system messages collected into ``.System`` and kept in ``.Messages``, the SYSTEM default
  prepended when a conversation has none) must give the same text as llama.cpp's template;
  its stop tokens must include the GGUF's end-of-turn token (its EOS).
- ``quantize``: ``llama_model_quantize`` (Q8_0, Q4_K_M) from an F32/F16 GGUF.
- ``perplexity``: exp(mean NLL) of held-out assistant tokens, computed from llama.cpp's logits.
- ``decode_speed``: greedy decode tokens/s on this CPU.

llama-cpp-python is an optional dependency (requirements-llama.txt, ``make llama``);
``missing_reason()`` says why it cannot be used.
"""

from __future__ import annotations

import math
import os
import re
import time
from pathlib import Path

import numpy as np

from common import errors

# llama_ftype values of llama.h (LLAMA_FTYPE_MOSTLY_Q8_0 = 7, LLAMA_FTYPE_MOSTLY_Q4_K_M = 15).
QUANT_FTYPES = {"q8_0": 7, "q4_k_m": 15}
# A divergence is accepted when transformers' own margin between its token and llama.cpp's
# token at that step is below this gap (a near tie that summation order can flip): F32 runs
# the same weights through another kernel order (float32 rounding, ~1e-5 relative on
# 135M-parameter logits); F16 rounds every weight (measured logit drift up to ~0.1 on
# SmolLM2-135M). Quantized files are reported, never refused.
DIVERGENCE_GAP = {"f32": 0.05, "f16": 0.5}
GREEDY_TOKENS = 32
TEMPLATE_MARKERS = ("<|im_start|>", "<|im_end|>", "<|endoftext|>")


def missing_reason() -> str | None:
    """Why llama.cpp cannot be used here (None when ``import llama_cpp`` works)."""
    try:
        import llama_cpp  # noqa: F401
    except ImportError as exc:
        return (f"llama.cpp bindings not importable ({exc}); install them with `make llama` "
                "(requirements-llama.txt)")
    except (OSError, RuntimeError) as exc:  # a failed or partial build: its library won't load
        return (f"llama.cpp bindings installed but their library does not load ({exc}); "
                "rebuild with `rm -f .cache/wheels/llama_cpp_python-* .venv/.llama-installed "
                "&& make llama`")
    return None


def _llama_cpp():
    if (reason := missing_reason()) is not None:
        raise errors.StageError(reason)
    import llama_cpp

    return llama_cpp


def default_threads() -> int:
    """Threads for llama.cpp: the CPUs this process may use (os.sched_getaffinity)."""
    return max(1, len(os.sched_getaffinity(0)))


def gguf_architecture(path: Path) -> str | None:
    """``general.architecture`` of a GGUF file (read with the ``gguf`` package), or None."""
    from gguf import GGUFReader

    field = GGUFReader(str(path)).fields.get("general.architecture")
    return None if field is None else str(field.contents())


def load(path: Path, n_ctx: int = 2048, logits_all: bool = False, n_threads: int | None = None,
         n_batch: int = 512):
    """``llama_cpp.Llama`` on ``path`` (quiet, CPU). Raises StageError naming the file and its
    architecture when llama.cpp refuses it (an unsupported architecture or a damaged file)."""
    llama_cpp = _llama_cpp()
    path = Path(path)
    if not path.is_file():
        raise errors.InputError(f"{path}: GGUF file not found")
    try:
        return llama_cpp.Llama(model_path=str(path), n_ctx=n_ctx, n_batch=n_batch,
                               n_threads=n_threads or default_threads(), logits_all=logits_all,
                               seed=0, verbose=False)
    except (ValueError, RuntimeError) as exc:
        raise errors.StageError(
            f"{path}: llama.cpp cannot load this GGUF (architecture "
            f"{gguf_architecture(path)!r}): unsupported architecture or damaged file ({exc})"
        ) from None


def applied_prompt_tokens(llm, messages: list[dict]) -> list[int]:
    """The prompt token ids ``llm.create_chat_completion(messages)`` sends to the model: the
    chat handler llama-cpp-python picked for this GGUF is run and its completion call caught."""

    class _Caught(Exception):
        pass

    def catch(prompt, **_kwargs):
        raise _Caught(list(prompt))

    llm.create_completion = catch
    try:
        llm.create_chat_completion(messages=messages, max_tokens=1)
    except _Caught as caught:
        return caught.args[0]
    finally:
        del llm.create_completion
    raise errors.StageError("llama.cpp's chat handler did not produce a prompt")


def last_logits(llm) -> np.ndarray:
    """A copy of the logits after the last token ``llm`` evaluated (float32, n_vocab)."""
    llama_cpp = _llama_cpp()
    pointer = llama_cpp.llama_get_logits_ith(llm._ctx.ctx, -1)
    return np.ctypeslib.as_array(pointer, shape=(llm.n_vocab(),)).copy()


def greedy(llm, ids: list[int], max_new: int, stop_ids: set[int]) -> tuple[list[int], list]:
    """Greedy decode in llama.cpp from prompt ``ids``: (new token ids, logits row per step).
    Stops after a token in ``stop_ids`` (included) or ``max_new`` tokens."""
    llm.reset()
    llm.eval(ids)
    tokens, rows = [], []
    for _ in range(max_new):
        row = last_logits(llm)
        token = int(row.argmax())
        tokens.append(token)
        rows.append(row)
        if token in stop_ids:
            break
        llm.eval([token])
    return tokens, rows


def reference_greedy(model, ids: list[int], max_new: int, stop_ids: set[int]):
    """Greedy decode with transformers: (new token ids, logits rows as numpy float32)."""
    import torch

    with torch.no_grad():
        out = model.generate(torch.tensor([ids]), max_new_tokens=max_new, do_sample=False,
                             num_beams=1, eos_token_id=sorted(stop_ids), pad_token_id=0,
                             output_logits=True, return_dict_in_generate=True)
    tokens = out.sequences[0, len(ids):].tolist()
    return tokens, [row[0].float().numpy() for row in out.logits]


def compare_greedy(ref_tokens: list[int], ref_rows: list, cpp_tokens: list[int],
                   cpp_rows: list) -> dict:
    """Token-by-token agreement of two greedy decodes.

    Returns {"identical_tokens": n (length of the common prefix), "compared": tokens compared,
    "diverged_at": index or None, "ref_gap": transformers' logit of its token minus its logit
    of llama.cpp's token at the divergence (>= 0; small means a near tie), "cpp_gap": the same
    from llama.cpp's logits}.
    """
    compared = min(len(ref_tokens), len(cpp_tokens))
    same = next((i for i in range(compared) if ref_tokens[i] != cpp_tokens[i]), compared)
    result = {"identical_tokens": same, "compared": compared, "diverged_at": None,
              "ref_gap": None, "cpp_gap": None}
    if same < compared:
        a, b = ref_tokens[same], cpp_tokens[same]
        result.update(diverged_at=same,
                      ref_gap=round(float(ref_rows[same][a] - ref_rows[same][b]), 5),
                      cpp_gap=round(float(cpp_rows[same][b] - cpp_rows[same][a]), 5))
    return result


def prompt_messages(row_messages: list[dict]) -> list[dict]:
    """The conversation up to (not including) its last assistant turn."""
    last = max((i for i, m in enumerate(row_messages) if m["role"] == "assistant"),
               default=len(row_messages))
    return [{"role": m["role"], "content": m["content"]} for m in row_messages[:last]]


def verify_in_llama_cpp(model_dir: Path, gguf_path: Path, conversations: list[list[dict]],
                        dtype: str, max_new: int = GREEDY_TOKENS, llm=None) -> dict:
    """Compare greedy answers of ``gguf_path`` in llama.cpp with the transformers folder
    ``model_dir`` on ``conversations`` (message lists ending with a user turn).

    Returns {"dtype", "prompts", "prompt_tokens_equal", "identical_tokens", "compared",
    "all_identical", "divergences": [{prompt, diverged_at, ref_gap, cpp_gap}],
    "stopped": prompts whose answer ended at an end-of-turn token, "leaks": answers holding
    template text, "answers_equal": chat answers equal to transformers' decoded answers}.
    Raises StageError when llama.cpp renders other prompt tokens than transformers, an answer
    holds template text, or (F32/F16) a divergence is not a near tie (``DIVERGENCE_GAP``).
    """
    from training.model import load_model, load_tokenizer

    tokenizer = load_tokenizer(model_dir)
    reference = load_model(model_dir).eval()
    llm = llm or load(gguf_path)
    stop_ids = {int(t) for t in (llm.token_eos(),
                                 tokenizer.convert_tokens_to_ids("<|im_end|>")) if t is not None}
    totals = {"dtype": dtype, "prompts": len(conversations), "prompt_tokens_equal": 0,
              "identical_tokens": 0, "compared": 0, "divergences": [], "stopped": 0,
              "leaks": [], "answers_equal": 0}
    for number, messages in enumerate(conversations):
        ids = list(tokenizer.apply_chat_template(messages, add_generation_prompt=True,
                                                 tokenize=True, return_dict=False))
        applied = applied_prompt_tokens(llm, messages)
        if applied != ids:
            first = next((i for i, (a, b) in enumerate(zip(applied, ids)) if a != b),
                         min(len(applied), len(ids)))
            raise errors.StageError(
                f"{gguf_path}: llama.cpp's chat template gives other prompt tokens than "
                f"transformers for prompt {number} (first difference at token {first}: "
                f"{llm.detokenize(applied[first:first + 3])!r} vs "
                f"{tokenizer.decode(ids[first:first + 3])!r})")
        totals["prompt_tokens_equal"] += 1
        ref_tokens, ref_rows = reference_greedy(reference, ids, max_new, stop_ids)
        cpp_tokens, cpp_rows = greedy(llm, ids, max_new, stop_ids)
        agreement = compare_greedy(ref_tokens, ref_rows, cpp_tokens, cpp_rows)
        totals["identical_tokens"] += agreement["identical_tokens"]
        totals["compared"] += agreement["compared"]
        if agreement["diverged_at"] is not None:
            totals["divergences"].append({"prompt": number, **{k: agreement[k] for k in (
                "diverged_at", "ref_gap", "cpp_gap")}})
        chat = llm.create_chat_completion(messages=messages, max_tokens=max_new,
                                          temperature=0.0, repeat_penalty=1.0)["choices"][0]
        answer = chat["message"]["content"] or ""
        if any(marker in answer for marker in TEMPLATE_MARKERS):
            totals["leaks"].append(number)
        stopped = bool(cpp_tokens) and cpp_tokens[-1] in stop_ids
        totals["stopped"] += int(stopped and chat["finish_reason"] == "stop")
        expected = tokenizer.decode([t for t in cpp_tokens if t not in stop_ids],
                                    skip_special_tokens=True)
        totals["answers_equal"] += int(answer == expected)
    totals["all_identical"] = not totals["divergences"]
    if totals["leaks"]:
        raise errors.StageError(f"{gguf_path}: llama.cpp answers hold chat-template text "
                                f"(prompts {totals['leaks']}): the end-of-turn token is not "
                                "an end-of-generation token in this GGUF")
    limit = DIVERGENCE_GAP.get(dtype)
    bad = [d for d in totals["divergences"] if limit is not None and d["ref_gap"] > limit]
    if bad:
        d = bad[0]
        raise errors.StageError(
            f"{gguf_path}: {dtype.upper()} greedy answer in llama.cpp differs from transformers "
            f"at token {d['diverged_at']} of prompt {d['prompt']} with a logit gap of "
            f"{d['ref_gap']:.3g} (a near tie is below {limit})")
    return totals


# -- Ollama Modelfile ------------------------------------------------------------------------

def parse_modelfile(text: str) -> dict:
    """{"from", "adapter", "template", "system", "parameters": {name: [values]}} of a
    Modelfile (https://github.com/ollama/ollama/blob/main/docs/modelfile.md)."""
    out: dict = {"from": None, "adapter": None, "template": None, "system": None,
                 "parameters": {}}
    for match in re.finditer(r'^(\w+)[ \t]+(?:"""(.*?)"""|([^\n]*))', text, re.M | re.S):
        word = match.group(1).upper()
        value = match.group(2) if match.group(2) is not None else match.group(3).strip()
        if word == "PARAMETER":
            name, _, raw = value.partition(" ")
            out["parameters"].setdefault(name, []).append(raw.strip().strip('"'))
        elif word.lower() in out:
            out[word.lower()] = value
    return out


_GO_ACTION = re.compile(r"{{(-?)\s*(.*?)\s*(-?)}}", re.S)


def render_go_template(template: str, data: dict) -> str:
    """Render the subset of Go's text/template that chat templates use: ``{{ .Field }}``,
    ``{{ if PIPE }}…{{ else }}…{{ end }}``, ``{{ range .Messages }}…{{ end }}``, pipes
    ``.X``, ``eq .X "s"``, ``ne .X "s"``, and ``{{-``/``-}}`` whitespace trimming.
    Raises InputError on any other action."""
    texts, actions, pos = [], [], 0
    for m in _GO_ACTION.finditer(template):
        texts.append(template[pos:m.start()])
        actions.append((m.group(2), bool(m.group(1)), bool(m.group(3))))
        pos = m.end()
    texts.append(template[pos:])
    for i, (_, left, right) in enumerate(actions):
        if left:
            texts[i] = texts[i].rstrip()
        if right:
            texts[i + 1] = texts[i + 1].lstrip()
    parts = [("text", texts[0])]
    for (value, _, _), text in zip(actions, texts[1:], strict=True):
        parts += [("action", value), ("text", text)]
    body, _ = _parse_go(parts, 0, ())
    return _exec_go(body, data)


def _parse_go(parts, i, until):
    nodes = []
    while i < len(parts):
        kind, value = parts[i]
        if kind == "text":
            nodes.append(("text", value))
            i += 1
            continue
        head = value.split(" ", 1)[0]
        if head in until:
            return nodes, i
        if head in ("if", "range"):
            inner, i = _parse_go(parts, i + 1, ("else", "end"))
            other = []
            if parts[i][1] == "else":
                other, i = _parse_go(parts, i + 1, ("end",))
            nodes.append((head, value.split(" ", 1)[1], inner, other))
            i += 1
        elif value.startswith("."):
            nodes.append(("field", value))
            i += 1
        else:
            raise errors.InputError(f"Modelfile TEMPLATE: unsupported action {{{{ {value} }}}}")
    return nodes, i


def _go_value(pipe: str, data: dict):
    words = re.findall(r'"[^"]*"|\S+', pipe)
    value = [w[1:-1] if w.startswith('"') else data.get(w[1:], "") for w in words[1:]] \
        if words[0] in ("eq", "ne") else None
    if words[0] == "eq":
        return value[0] == value[1]
    if words[0] == "ne":
        return value[0] != value[1]
    if len(words) == 1 and words[0].startswith("."):
        return data.get(words[0][1:], "")
    raise errors.InputError(f"Modelfile TEMPLATE: unsupported pipeline {pipe!r}")


def _exec_go(nodes, data: dict) -> str:
    out = []
    for node in nodes:
        if node[0] == "text":
            out.append(node[1])
        elif node[0] == "field":
            out.append(str(_go_value(node[1], data)))
        elif node[0] == "if":
            out.append(_exec_go(node[2] if _go_value(node[1], data) else node[3], data))
        else:
            items = _go_value(node[1], data)
            out.append("".join(_exec_go(node[2], {**data, **item}) for item in items)
                       if items else _exec_go(node[3], data))
    return "".join(out)


def ollama_prompt(modelfile: dict, messages: list[dict]) -> str:
    """The prompt Ollama's chat endpoint renders from a parsed Modelfile: the SYSTEM default
    is prepended when the conversation has no system message; system messages are joined into
    ``.System`` and stay in ``.Messages`` (Ollama's template.collate)."""
    if modelfile["system"] is not None and not any(m["role"] == "system" for m in messages):
        messages = [{"role": "system", "content": modelfile["system"]}, *messages]
    system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
    data = {"System": system, "Messages": [{"Role": m["role"], "Content": m["content"]}
                                           for m in messages]}
    return render_go_template(modelfile["template"] or "{{ .Prompt }}", data)


def check_modelfile(modelfile_path: Path, llm, conversations: list[list[dict]]) -> dict:
    """Check a Modelfile against what llama.cpp applies for the same conversations.

    Returns {"template_equal": n of conversations rendered identically, "prompts",
    "stops": the Modelfile's stop strings, "eog_tokens": every token llama.cpp ends
    generation at, "parameters"}. Raises StageError naming the first mismatch: a rendered
    prompt that differs, the end-of-turn (EOS) token missing from the stops, or ``num_ctx``
    above the GGUF's training context.
    """
    parsed = parse_modelfile(Path(modelfile_path).read_text())
    equal = 0
    for number, messages in enumerate(conversations):
        ours = ollama_prompt(parsed, messages)
        theirs = llm.detokenize(applied_prompt_tokens(llm, messages), special=True).decode()
        if ours != theirs:
            first = next((i for i, (a, b) in enumerate(zip(ours, theirs)) if a != b),
                         min(len(ours), len(theirs)))
            raise errors.StageError(
                f"{modelfile_path}: TEMPLATE renders conversation {number} differently from "
                f"llama.cpp at character {first}: {ours[first:first + 30]!r} vs "
                f"{theirs[first:first + 30]!r}")
        equal += 1
    stops = parsed["parameters"].get("stop", [])
    eog = sorted({llm.detokenize([t], special=True).decode() for t in range(llm.n_vocab())
                  if _llama_cpp().llama_vocab_is_eog(llm._model.vocab, t)})
    end_of_turn = llm.detokenize([llm.token_eos()], special=True).decode()
    if end_of_turn not in stops:
        raise errors.StageError(f"{modelfile_path}: stop tokens miss {[end_of_turn]}, the "
                                "end-of-turn token where llama.cpp ends an answer")
    num_ctx = parsed["parameters"].get("num_ctx")
    if num_ctx and int(num_ctx[0]) > llm.n_ctx_train():
        raise errors.StageError(f"{modelfile_path}: num_ctx {num_ctx[0]} exceeds the model's "
                                f"training context {llm.n_ctx_train()}")
    return {"template_equal": equal, "prompts": len(conversations), "stops": stops,
            "eog_tokens": eog, "parameters": parsed["parameters"]}


# -- quantization and measurements -----------------------------------------------------------

def quantize(source: Path, target: Path, kind: str, n_threads: int | None = None) -> Path:
    """Quantize an F32/F16 GGUF with llama.cpp's quantizer (``llama_model_quantize``).

    ``kind``: "q8_0" or "q4_k_m" (llama.cpp's types; Q4_K_M keeps some tensors at Q6_K and
    falls back to a legacy type where a row is not a multiple of 256). Raises InputError for
    another kind, StageError when llama.cpp reports a failure.
    """
    if kind not in QUANT_FTYPES:
        raise errors.InputError(f"quantization {kind!r}: choose one of {sorted(QUANT_FTYPES)}")
    llama_cpp = _llama_cpp()
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = QUANT_FTYPES[kind]
    params.nthread = n_threads or default_threads()
    code = llama_cpp.llama_model_quantize(str(source).encode(), str(target).encode(),
                                          params)
    if code != 0 or not Path(target).is_file():
        raise errors.StageError(f"llama.cpp could not quantize {source} to {kind} (code {code})")
    return Path(target)


def perplexity(llm, token_rows: list[tuple[list[int], int]]) -> float:
    """exp(mean negative log-likelihood) over answer tokens, from llama.cpp's logits.

    ``token_rows``: (ids of the whole conversation, index of the first answer token); ``llm``
    must be loaded with ``logits_all=True`` and an ``n_ctx`` that holds each row. Rows longer
    than the context are cut to it. Standard token-level perplexity (Jelinek et al., 1977).
    """
    total, count = 0.0, 0
    for ids, start in token_rows:
        ids = ids[:llm.n_ctx()]
        if start >= len(ids):
            continue
        llm.reset()
        llm.eval(ids)
        logits = np.asarray(llm.scores[start - 1:len(ids) - 1], dtype=np.float64)
        top = logits.max(axis=1, keepdims=True)
        log_z = top[:, 0] + np.log(np.exp(logits - top).sum(axis=1))
        targets = np.array(ids[start:])
        total += float((log_z - logits[np.arange(len(targets)), targets]).sum())
        count += len(targets)
    if count == 0:
        raise errors.StageError("no held-out answer tokens to measure perplexity on")
    return math.exp(total / count)


def decode_speed(llm, prompt_ids: list[int], new_tokens: int = 64) -> float:
    """Greedy decode tokens/s (prompt evaluation excluded), every step run to ``new_tokens``."""
    llm.reset()
    llm.eval(prompt_ids)
    started = time.perf_counter()
    for _ in range(new_tokens):
        llm.eval([int(np.argmax(last_logits(llm)))])
    return new_tokens / (time.perf_counter() - started)


# -- the verification table of an export -----------------------------------------------------

def answer_token_rows(tokenizer, rows: list[list[dict]]) -> list[tuple[list[int], int]]:
    """(ids of the conversation through its last assistant turn, index of that turn's first
    answer token) for each message list, with the tokenizer's chat template; rows without an
    assistant turn are skipped. The answer tokens include its end-of-turn token."""
    out = []
    for messages in rows:
        prompt = prompt_messages(messages)
        if len(prompt) == len(messages):
            continue
        last = max(i for i, m in enumerate(messages) if m["role"] == "assistant")
        whole = [{"role": m["role"], "content": m["content"]} for m in messages[:last + 1]]
        start = len(tokenizer.apply_chat_template(prompt, add_generation_prompt=True,
                                                  tokenize=True, return_dict=False))
        ids = list(tokenizer.apply_chat_template(whole, tokenize=True, return_dict=False))
        out.append((ids, start))
    return out


def verification_table(model_dir: Path, f32_gguf: Path, out_dir: Path,
                       heldout: list[list[dict]], quants: tuple[str, ...] = ("q8_0", "q4_k_m"),
                       verify_prompts: int = 3, n_ctx: int = 1024) -> dict:
    """Write the F16 and quantized GGUFs next to ``f32_gguf`` and measure each in llama.cpp.

    ``heldout``: held-out conversations (message lists ending with an assistant answer); the
    first ``verify_prompts`` prompts are compared greedily with transformers, every answer
    is scored for perplexity. Returns {"rows": [{"type", "file", "size_mb", "perplexity",
    "tokens_per_s", "identical_tokens", "compared", "first_divergence", "stopped", "prompts",
    "answers_equal"}] for F32, F16 and each quantization, "modelfile": check_modelfile's
    result or None}. Raises StageError when F32/F16 fail ``verify_in_llama_cpp``.
    """
    from training.export import write_gguf
    from training.model import load_tokenizer

    tokenizer = load_tokenizer(model_dir)
    conversations = [prompt_messages(m) for m in heldout[:verify_prompts]]
    token_rows = answer_token_rows(tokenizer, heldout)
    files = {"f32": Path(f32_gguf)}
    files["f16"] = write_gguf(model_dir, Path(out_dir) / "model-f16.gguf", "f16",
                              tokenizer_gguf=Path(f32_gguf))
    for kind in quants:
        files[kind] = quantize(files["f32"], Path(out_dir) / f"model-{kind}.gguf", kind)
    rows, modelfile = [], None
    speed_prompt = token_rows[0][0][:token_rows[0][1]] if token_rows else \
        tokenizer("The capital of France is")["input_ids"]
    for kind, path in files.items():
        llm = load(path, n_ctx=n_ctx, logits_all=True)
        check = verify_in_llama_cpp(model_dir, path, conversations, kind, llm=llm)
        first = check["divergences"][0] if check["divergences"] else None
        rows.append({
            "type": kind.upper(), "file": path.name,
            "size_mb": round(path.stat().st_size / 2**20, 1),
            "perplexity": round(perplexity(llm, token_rows), 3) if token_rows else None,
            "tokens_per_s": round(decode_speed(llm, speed_prompt), 1),
            "identical_tokens": check["identical_tokens"], "compared": check["compared"],
            "first_divergence": first, "stopped": check["stopped"],
            "prompts": check["prompts"], "answers_equal": check["answers_equal"]})
        if kind == "f32" and (Path(out_dir) / "Modelfile.gguf").is_file():
            modelfile = check_modelfile(Path(out_dir) / "Modelfile.gguf", llm, conversations)
        del llm
    return {"rows": rows, "modelfile": modelfile, "threads": default_threads()}
