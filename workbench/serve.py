"""``workbench serve``: a run's GGUF in llama.cpp behind an OpenAI-compatible endpoint.

``POST /v1/chat/completions`` (non-streaming; the request's ``messages``, ``temperature``,
``top_p``, ``max_tokens``/``max_completion_tokens``, ``stop``, ``seed``) and
``GET /v1/models``, on 127.0.0.1 only, with Starlette under uvicorn. Answers come from
``llama_cpp.Llama.create_chat_completion`` with the GGUF's own chat template; sampling follows
the OpenAI API (temperature 1 when absent, no top-k or min-p cut), so ``temperature=0`` is
greedy. One request is answered at a time (a lock: a llama.cpp context is not thread-safe).

Run as: ``workbench serve -w ws/ --run RUN [--quant q4_k_m] [--port 8080]``.
"""

from __future__ import annotations

import errno
import socket
import threading
from pathlib import Path

from common.errors import InputError, StageError
from workbench.store import open_workspace
from workbench.store import training as store

HOST = "127.0.0.1"
GGUF_FILES = {"f32": "model.gguf", "f16": "model-f16.gguf", "q8_0": "model-q8_0.gguf",
              "q4_k_m": "model-q4_k_m.gguf"}
SAMPLING_KEYS = ("temperature", "top_p", "max_tokens", "stop", "seed")


def resolve_gguf(workspace: Path, run_id: str, quant: str | None = None) -> tuple[Path, str]:
    """(GGUF path, model name) to serve for ``run_id``: "base" is the embedded model's GGUF;
    a train run serves its export's ``quant`` file (default F16, else the F32 ``model.gguf``).

    Raises InputError for an unknown quantization, StageError for an unknown run, a run that
    did not succeed or has no adapter, and a run not exported to that GGUF yet.
    """
    if quant is not None and quant.lower() not in GGUF_FILES:
        raise InputError(f"--quant {quant}: choose one of {', '.join(GGUF_FILES)}")
    if run_id == "base":
        from training.model import EMBEDDED_MODEL, embedded_gguf_path

        return embedded_gguf_path(), EMBEDDED_MODEL
    with open_workspace(workspace, create=False) as ws:
        run = store.train_run(ws, run_id)
    if run is None:
        raise StageError(f"unknown train run {run_id!r} (see `workbench train-runs`)")
    if run["state"] != "succeeded" or not (run["summary"] or {}).get("adapter"):
        raise StageError(f"run {run_id} has no adapter to serve (state {run['state']}); "
                         "train it to the end first")
    export = Path(run["dir"]) / "export"
    names = [GGUF_FILES[quant.lower()]] if quant else [GGUF_FILES["f16"], GGUF_FILES["f32"]]
    for name in names:
        if (export / name).is_file():
            return export / name, f"{run_id}-{name.removesuffix('.gguf')}"
    raise StageError(f"run {run_id} has no {names[0]} export: run `workbench export-model "
                     f"-w {workspace} --run-id {run_id}` first")


def bind(port: int) -> socket.socket:
    """A listening TCP socket on 127.0.0.1:``port``. Raises StageError when the port is in
    use or not allowed."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind((HOST, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise StageError(f"port {port} on {HOST} is in use: choose another with --port")
        raise StageError(f"cannot listen on {HOST}:{port}: {exc.strerror}") from None
    sock.listen(64)
    return sock


def chat_completion(llm, lock: threading.Lock, body: dict, system: str | None = None) -> dict:
    """Answer one OpenAI chat request ``body`` with ``llm`` (the in-process path the server
    uses). Raises InputError for a malformed request."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages or not all(
            isinstance(m, dict) and isinstance(m.get("role"), str)
            and isinstance(m.get("content"), str) for m in messages):
        raise InputError("messages: a non-empty list of {role, content} with text content")
    if body.get("stream"):
        raise InputError("stream: streaming is not supported by this endpoint")
    messages = [{"role": m["role"], "content": m["content"]} for m in messages]
    if system is not None and not any(m["role"] == "system" for m in messages):
        messages.insert(0, {"role": "system", "content": system})
    kwargs = {k: body[k] for k in SAMPLING_KEYS if body.get(k) is not None}
    if body.get("max_completion_tokens") is not None:
        kwargs["max_tokens"] = body["max_completion_tokens"]
    kwargs.setdefault("temperature", 1.0)
    with lock:
        return llm.create_chat_completion(messages=messages, top_k=0, min_p=0.0,
                                          repeat_penalty=1.0, **kwargs)


def make_app(llm, model_name: str, system: str | None = None):
    """The Starlette app: /v1/chat/completions and /v1/models around one ``llm``."""
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    lock = threading.Lock()

    def error(status: int, message: str) -> JSONResponse:
        return JSONResponse({"error": {"message": message, "type": "invalid_request_error"}},
                            status_code=status)

    async def chat(request):
        try:
            body = await request.json()
        except ValueError:
            return error(400, "the request body is not JSON")
        if not isinstance(body, dict):
            return error(400, "the request body must be a JSON object")
        try:
            result = await run_in_threadpool(chat_completion, llm, lock, body, system)
        except InputError as exc:
            return error(400, str(exc))
        return JSONResponse({**result, "model": model_name})

    async def models(_request):
        return JSONResponse({"object": "list", "data": [
            {"id": model_name, "object": "model", "owned_by": "workbench"}]})

    return Starlette(routes=[Route("/v1/chat/completions", chat, methods=["POST"]),
                             Route("/v1/models", models, methods=["GET"])])


def make_server(workspace: Path, run_id: str, quant: str | None = None, port: int = 8080,
                system: str | None = None, n_ctx: int = 2048):
    """(uvicorn.Server, bound socket, {"gguf", "model", "url"}) ready to ``server.run(
    sockets=[sock])``. Errors (one line each): StageError for a port in use, a run without
    adapter or export, missing llama.cpp bindings, an architecture llama.cpp cannot load."""
    import uvicorn

    from training import llamacpp

    if (reason := llamacpp.missing_reason()) is not None:
        raise StageError(reason)
    path, name = resolve_gguf(workspace, run_id, quant)
    sock = bind(port)
    try:
        llm = llamacpp.load(path, n_ctx=n_ctx)
    except Exception:
        sock.close()
        raise
    server = uvicorn.Server(uvicorn.Config(make_app(llm, name, system), log_level="warning",
                                           lifespan="off"))
    return server, sock, {"gguf": str(path), "model": name,
                          "url": f"http://{HOST}:{sock.getsockname()[1]}/v1"}
