"""The current dataset: chosen in the sidebar, read by every page; an import asks first."""

from pathlib import Path

import pytest

from curation.formats import Example
from tests.conftest import write_jsonl
from tests.prepared import admin_page, conv
from workbench.stages import curation as stages
from workbench.store import open_workspace

ADMIN_PAGES = ["views/data.py", "views/datasets.py", "views/browse.py", "views/dedup.py",
               "views/versions.py", "views/privacy.py", "views/run.py", "views/train.py",
               "views/sessions.py", "views/report.py", "views/playground.py"]


@pytest.fixture
def two_datasets(workspace) -> Path:
    """The prepared workspace (dataset 1: 10 examples, current) plus dataset 2 "small.jsonl"
    with 3 examples and a PII span, added without becoming current."""
    with open_workspace(workspace) as ws:
        ws.add_dataset("small.jsonl", "small.jsonl", "openai",
                       [Example(i, conv(f"Small {i}?", f"Reply {i}.")) for i in (1, 2, 3)], [])
        ws.set_current_dataset(1)
        ws.replace_rows("pii_spans", 2, [{
            "example_id": 2, "message_index": 1, "entity_type": "EMAIL_ADDRESS",
            "start_char": 0, "end_char": 5, "score": 0.9}])
    return workspace


def metrics(at) -> dict:
    return {m.label: m.value for m in at.metric}


def test_the_sidebar_picker_switches_the_dataset_of_every_page(two_datasets):
    at = admin_page("views/data.py")
    picker = at.sidebar.selectbox(key="dataset_picker")
    assert picker.value == 1
    assert picker.options == ["t.jsonl · #1 · 10 rows", "small.jsonl · #2 · 3 rows"]
    assert metrics(at)["Examples"] == "10"
    picker.set_value(2).run()
    assert not at.exception
    assert metrics(at) == {"Rows in": "3", "Examples": "3", "Rejects": "0", "Duplicates": "0",
                           "PII spans": "1"}
    with open_workspace(two_datasets) as ws:  # the stages and the CLI read the same choice
        assert ws.current_dataset() == 2
    for path in ADMIN_PAGES:
        at.switch_page(path).run()
        assert not at.exception, (path, at.exception)
        assert at.sidebar.selectbox(key="dataset_picker").value == 2, path
    at.switch_page("views/browse.py").run()
    assert "3 rows match · page 1 of 1" in [c.value for c in at.caption]
    at.switch_page("views/privacy.py").run()
    assert at.selectbox(key="entity").options == ["all types", "EMAIL_ADDRESS"]  # dataset 1 has PERSON


def test_a_new_dataset_gets_the_current_version_back_to_its_working_rows(two_datasets):
    with open_workspace(two_datasets) as ws:
        ws.set_setting("current_version", "v-of-1")
        ws.set_current_dataset(2)
        assert ws.setting("current_version") is None


def test_an_import_asks_before_switching_and_the_demo_stays_reachable(two_datasets, tmp_path,
                                                                      monkeypatch):
    monkeypatch.setenv("WORKBENCH_DATA_DIRS", str(tmp_path))
    source = write_jsonl(tmp_path / "new.jsonl", [{"prompt": f"p{i}", "completion": "c"}
                                                  for i in range(4)])
    at = admin_page("views/datasets.py")
    at.text_input(key="import_path").input(str(source))
    at.button(key="import").click().run()
    assert not at.exception
    assert at.success[0].value.startswith("Imported as dataset 3: format prompt_completion")
    assert ("**Switch to the new dataset #3?** The pages still show dataset #1."
            in [m.value for m in at.markdown])
    assert "New dataset: new.jsonl" in [t.value for t in at.text]
    with open_workspace(two_datasets) as ws:
        assert ws.current_dataset() == 1  # not switched silently
    assert at.sidebar.selectbox(key="dataset_picker").options[-1] == "new.jsonl · #3 · 4 rows"
    at.button(key="switch_yes").click().run()
    assert not at.exception
    assert at.sidebar.selectbox(key="dataset_picker").value == 3
    assert at.dataframe[0].value["current"].tolist() == [False, False, True]
    assert "switch_yes" not in [b.key for b in at.button]
    at.sidebar.selectbox(key="dataset_picker").set_value(1).run()  # back to the first one
    with open_workspace(two_datasets) as ws:
        assert ws.current_dataset() == 1


def test_staying_keeps_the_current_dataset(two_datasets, tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_DATA_DIRS", str(tmp_path))
    source = write_jsonl(tmp_path / "new.jsonl", [{"prompt": "p", "completion": "c"}])
    at = admin_page("views/datasets.py")
    at.text_input(key="import_path").input(str(source))
    at.button(key="import").click().run()
    at.button(key="switch_no").click().run()
    assert "switch_no" not in [b.key for b in at.button]
    assert at.sidebar.selectbox(key="dataset_picker").value == 1


def test_the_cli_and_pipeline_ingest_still_make_the_new_dataset_current(tmp_path):
    source = write_jsonl(tmp_path / "a.jsonl", [{"prompt": "p", "completion": "c"}])
    stages.ingest(tmp_path / "ws", str(source))
    stages.ingest(tmp_path / "ws", str(source))
    with open_workspace(tmp_path / "ws") as ws:
        assert ws.current_dataset() == 2
    stages.ingest(tmp_path / "ws", str(source), make_current=False)
    with open_workspace(tmp_path / "ws") as ws:
        assert ws.current_dataset() == 2
