import pytest

from workbench.demo import DEMO_DATA, build_demo
from common.errors import InputError


def test_demo_refuses_a_folder_that_is_not_a_workspace_and_leaves_it_alone(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="not a workspace"):
        build_demo(tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_demo_is_skipped_when_the_workspace_exists(tmp_path):
    (tmp_path / "workspace.duckdb").write_bytes(b"")
    assert build_demo(tmp_path)["built"] is False


def test_demo_data_has_64_lines_with_one_malformed():
    lines = DEMO_DATA.read_text().split("\n")[:-1]
    assert len(lines) == 64 and lines[35].startswith('{"messages": [{"role": "user"')
