"""Where judge answers come from: a local model folder, or an OpenAI-compatible endpoint.

Run as: ``answer_local(Path(".cache/models/SmolLM2-135M-Instruct"), prompts)`` or
``answer_url("http://127.0.0.1:11434/v1", "llama3.1", prompts)``.

Both send each rendered judge prompt as one user message and decode greedily (temperature
0), returning the answer texts in input order. The endpoint is called only at the address
the user gave (there is no default address), with the ``openai`` client, no automatic
retries and a short connect timeout: an endpoint that does not answer stops the run at the
first request with one ``JudgeError``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from evaluation.judge import JudgeError

OnAnswer = Callable[[int, int], None]
CONNECT_TIMEOUT_S = 3.0
API_KEY_VARIABLE = "WORKBENCH_JUDGE_API_KEY"  # for an endpoint that wants a key


def answer_local(model_dir: Path, prompts: list[str], max_new_tokens: int = 8,
                 batch_size: int = 16, on_batch: OnAnswer | None = None) -> list[str]:
    """Greedy answers of the model in ``model_dir`` (a transformers folder, no adapter) to
    each prompt, through ``evaluation.generate.generate_detailed`` (its chat template).
    Raises JudgeError naming the folder when it does not load."""
    from evaluation.generate import generate_detailed, load_for_generation

    try:
        model, tokenizer = load_for_generation(Path(model_dir))
    except Exception as exc:  # any loader failure is the folder's fault: say which folder
        reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise JudgeError(f"judge model folder {model_dir} does not load: {reason}") from None
    messages = [[{"role": "user", "content": prompt}] for prompt in prompts]
    answers = generate_detailed(model, tokenizer, messages, max_new_tokens, batch_size,
                                on_batch=on_batch)
    return [text for text, _ in answers]


def check_url(url: str) -> str:
    """The endpoint's base URL without a trailing slash; JudgeError unless it is an http(s)
    address with a host."""
    from urllib.parse import urlsplit

    parts = urlsplit(url or "")
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise JudgeError(f"judge URL {url!r} is not an http(s) address such as "
                         "http://127.0.0.1:8080/v1")
    return url.rstrip("/")


def answer_url(url: str, model: str, prompts: list[str], max_new_tokens: int = 8,
               timeout_s: float = 60.0, api_key: str | None = None,
               on_answer: OnAnswer | None = None) -> list[str]:
    """The endpoint's chat-completion answer to each prompt, one request at a time.

    ``url``: the OpenAI-compatible base URL (e.g. ``http://127.0.0.1:8080/v1``); ``model``:
    the model name it serves; ``timeout_s``: seconds to wait for one answer (connecting
    gives up after ``CONNECT_TIMEOUT_S``); ``api_key``: sent as the bearer token (default
    ``$WORKBENCH_JUDGE_API_KEY``, else a placeholder that local servers ignore). Raises JudgeError, naming the URL, at the first
    request that cannot connect, times out or gets an HTTP error (no retries).
    """
    import openai

    base = check_url(url)
    key = api_key or os.environ.get(API_KEY_VARIABLE) or "not-needed"
    client = openai.OpenAI(base_url=base, api_key=key, max_retries=0,
                           timeout=openai.Timeout(timeout_s, connect=CONNECT_TIMEOUT_S))
    out = []
    for done, prompt in enumerate(prompts, 1):
        try:
            reply = client.chat.completions.create(
                model=model, messages=[{"role": "user", "content": prompt}],
                max_tokens=max_new_tokens, temperature=0)
        except openai.APITimeoutError:
            raise JudgeError(f"judge URL {base} did not answer within {timeout_s:g} s") from None
        except openai.APIConnectionError:
            raise JudgeError(f"judge URL {base} does not answer (no connection)") from None
        except openai.APIStatusError as exc:
            raise JudgeError(f"judge URL {base} answered HTTP {exc.status_code} for model "
                             f"{model!r}") from None
        choices = getattr(reply, "choices", None) or []
        out.append((choices[0].message.content or "") if choices else "")
        if on_answer is not None:
            on_answer(done, len(prompts))
    return out
