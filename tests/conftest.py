"""Test isolation: no network, a temporary HOME and caches, for this process and its jobs.

pytest-socket blocks sockets in this process (pyproject addopts); job subprocesses get
WORKBENCH_BLOCK_NETWORK=1, which makes them refuse INET connections (workbench.netguard).
The converted model cache ($WORKBENCH_MODEL_CACHE, default .cache/models) is kept: it is
built once by `make model`, from the packaged GGUF, without any network.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

# urllib3 probes IPv6 support by creating (never connecting) a socket when first imported;
# import it before pytest-socket blocks sockets, so that probe is not reported as network use.
import urllib3  # noqa: F401

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(autouse=True)
def isolated_env(tmp_path_factory, monkeypatch):
    home = tmp_path_factory.mktemp("home")
    for name in ("HOME", "XDG_CACHE_HOME", "HF_HOME", "TLDEXTRACT_CACHE"):
        monkeypatch.setenv(name, str(home / name.lower()))
    monkeypatch.setenv("WORKBENCH_BLOCK_NETWORK", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def evaluate_home(tmp_path_factory) -> Path:
    """One HF modules/metrics cache for the whole session: evaluate imports the metric modules
    it copies as the package ``evaluate_modules`` from the first cache folder it used, so a
    second folder in the same process would not be found."""
    return tmp_path_factory.mktemp("evaluate_home")


@pytest.fixture
def evaluate_cache(evaluate_home, monkeypatch) -> Path:
    """Point evaluate's module and metric caches (read at its import) at ``evaluate_home``."""
    import evaluate.config

    monkeypatch.setattr(evaluate.config, "HF_MODULES_CACHE", evaluate_home / "hf" / "modules")
    monkeypatch.setattr(evaluate.config, "HF_METRICS_CACHE", evaluate_home / "hf" / "metrics")
    return evaluate_home


@pytest.fixture
def workspace(tmp_path, monkeypatch) -> Path:
    """The prepared workspace of tests/prepared.py, shown by the app ($WORKBENCH_WORKSPACE).
    Test modules that need another workspace define their own ``workspace`` fixture."""
    from tests.prepared import prepare_workspace

    root = prepare_workspace(tmp_path / "ws")
    monkeypatch.setenv("WORKBENCH_WORKSPACE", str(root))
    return root


@pytest.fixture
def empty_workspace(tmp_path, monkeypatch) -> Path:
    """An empty workspace folder (created, no dataset), shown by the app
    ($WORKBENCH_WORKSPACE)."""
    from workbench.store import open_workspace

    root = tmp_path / "ws"
    with open_workspace(root):
        pass
    monkeypatch.setenv("WORKBENCH_WORKSPACE", str(root))
    return root


@pytest.fixture
def ws(tmp_path):
    """An empty in-memory workspace (store tests); modules that need another ``ws`` define
    their own."""
    from workbench.store import memory_workspace

    workspace = memory_workspace(tmp_path)
    yield workspace
    workspace.con.close()


@pytest.fixture
def shared_data() -> Path:
    """../shared/data, or skip when this clone has none (a user's fresh clone)."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not present")
    return SHARED_DATA


@pytest.fixture
def network_calls(monkeypatch) -> list:
    """Record (and refuse) every DNS lookup or connect, even ones a library would swallow."""
    calls = []

    def refuse(*args, **kwargs):
        calls.append(args)
        raise OSError("network disabled in tests")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    return calls


@pytest.fixture
def downloads(monkeypatch) -> list[bytes]:
    """Every file a page hands to st.download_button in this test, as bytes, in order."""
    from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage

    seen = []
    original = MemoryMediaFileStorage.load_and_get_id

    def record(self, data, mimetype, kind, filename=None):
        seen.append(data if isinstance(data, bytes) else data.encode())
        return original(self, data, mimetype, kind, filename)

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", record)
    return seen


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path
