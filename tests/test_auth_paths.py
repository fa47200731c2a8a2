"""Typed paths are confined to allowed folders; server config keeps its safe defaults."""

import os
import tomllib
from pathlib import Path

import pytest

from common.errors import InputError
from workbench.paths import allowed_roots, confine

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def roots(tmp_path):
    (tmp_path / "ws" / "data").mkdir(parents=True)
    (tmp_path / "secret").mkdir()
    return [tmp_path / "ws"]


def test_a_path_inside_an_allowed_folder_is_accepted(roots):
    assert confine("data/a.jsonl", roots) == roots[0] / "data" / "a.jsonl"
    assert confine(str(roots[0] / "data" / "a.jsonl"), roots) == roots[0] / "data" / "a.jsonl"


@pytest.mark.parametrize("typed", ["../secret/x.jsonl", "data/../../secret/x.jsonl",
                                   "/etc/passwd", "~/x.jsonl", "", "a\0b"])
def test_a_path_that_escapes_is_refused(roots, typed):
    with pytest.raises(InputError, match="outside the allowed folders|give a file path"):
        confine(typed, roots)


def test_a_symbolic_link_out_of_the_folder_is_refused(roots):
    os.symlink(roots[0].parent / "secret", roots[0] / "data" / "link")
    with pytest.raises(InputError, match="outside the allowed folders"):
        confine("data/link/x.jsonl", roots)


def test_extra_data_folders_come_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_DATA_DIRS", str(tmp_path / "more"))
    roots = allowed_roots(tmp_path / "ws")
    assert roots[0] == tmp_path / "ws" and roots[-1] == tmp_path / "more"
    assert confine(str(tmp_path / "more" / "d.jsonl"), roots) == tmp_path / "more" / "d.jsonl"


def test_server_binds_locally_keeps_xsrf_and_caps_uploads():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())["server"]
    assert config["address"] == "127.0.0.1"
    assert config["enableXsrfProtection"] is True
    assert config["maxUploadSize"] == 50  # MB
    assert config["enableCORS"] is True
