"""The curation pages (Data findings, Browse, Datasets, Versions) through AppTest."""

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import write_jsonl
from tests.prepared import admin_page
from workbench.store import open_workspace


def page(path: str) -> AppTest:
    return admin_page(path)


@pytest.mark.parametrize("path", ["views/datasets.py", "views/browse.py", "views/versions.py"])
def test_every_curation_page_renders_without_an_exception(workspace, path):
    assert not page(path).exception


def test_data_page_lists_the_rows_behind_a_findings_bar(workspace):
    at = page("views/data.py")
    assert at.selectbox(key="finding_code").options == ["missing_system"]
    behind = at.dataframe[0].value  # the first table on the page
    assert behind[["example_id", "line"]].to_dict("records") == [{"example_id": 1, "line": 1}]


def test_data_page_dropdown_chooses_the_bar_when_no_bar_is_clicked(workspace):
    """The fallback path: AppTest cannot click the chart, so the dropdown picks the code."""
    with open_workspace(workspace) as ws:
        ws.insert("findings", [{"dataset_id": 1, "example_id": i, "step": "leakage",
                                "code": "test_leakage", "severity": "warning",
                                "message": f"row {i} (test) is a near copy",
                                "message_index": None} for i in (4, 7)])
    at = page("views/data.py")
    assert not at.exception
    assert [chart.key for chart in at.get("vega_lite_chart")] == ["findings_chart"]
    assert at.selectbox(key="finding_code").options == ["test_leakage", "missing_system"]
    assert at.dataframe[0].value[["example_id", "line"]].to_dict("records") == [
        {"example_id": 4, "line": 4}, {"example_id": 7, "line": 7}]
    at.selectbox(key="finding_code").select("missing_system").run()
    assert not at.exception
    assert at.dataframe[0].value[["example_id", "line"]].to_dict("records") == [
        {"example_id": 1, "line": 1}]


@pytest.mark.parametrize(("event", "code"), [
    ({"selection": {"pick": [{"code": "refusal", "severity": "warning"}]}}, "refusal"),
    ({"selection": {"pick": {"code": ["role_order"]}}}, "role_order"),
    ({"selection": {"pick": []}}, None),
    ({"selection": {"pick": {}}}, None),
    ({"selection": {}}, None),
    (None, None),
])
def test_chart_pick_reads_the_clicked_code_from_a_selection_event(event, code):
    from views._ui import chart_pick

    assert chart_pick(event, "pick", "code") == code


def test_data_page_plots_token_lengths_once_validate_stored_them(workspace):
    with open_workspace(workspace) as ws:
        ws.insert("example_tokens", [{"dataset_id": 1, "example_id": i, "n_tokens": 10 * i,
                                      "trainable_tokens": i, "openai_tokens": i}
                                     for i in range(1, 11)])
    at = page("views/data.py")
    assert not at.exception
    assert "No token counts yet" not in " ".join(c.value for c in at.caption)


def test_browse_search_finds_a_row_and_an_edit_is_recorded_with_old_and_new_text(workspace):
    at = page("views/browse.py")
    at.text_input(key="search").input("Question 3?").run()
    assert at.dataframe[0].value["id"].tolist() == [4]
    at.text_area(key="text_4_1").input("Answer three.").run()
    at.text_input(key="who").input("ana").run()
    at.text_input(key="reason").input("spell it out").run()
    at.button(key="save").click().run()
    assert not at.exception
    assert at.success[0].value == "Row 4: saved 1 edited message(s) (recorded as a decision)"
    with open_workspace(workspace) as ws:
        assert ws.query("SELECT example_id, action, who, reason, message_index, old_text, "
                        "new_text FROM decisions WHERE action = 'edit'") == [
            {"example_id": 4, "action": "edit", "who": "ana", "reason": "spell it out",
             "message_index": 1, "old_text": "Answer 3.", "new_text": "Answer three."}]
        assert json.loads(ws.scalar("SELECT messages FROM examples WHERE id = 4"))[1] == {
            "role": "assistant", "content": "Answer three."}


def test_browse_drop_is_a_decision_and_the_status_filter_finds_it(workspace):
    at = page("views/browse.py")
    at.selectbox(key="row_id").select(6).run()
    at.text_input(key="who").input("bo").run()
    at.button(key="drop").click().run()
    at.selectbox(key="status").select("drop").run()
    assert at.dataframe[0].value["id"].tolist() == [6]


@pytest.fixture
def data_dir(tmp_path, monkeypatch) -> Path:
    """tmp_path as an allowed import folder ($WORKBENCH_DATA_DIRS), as a user would set it."""
    monkeypatch.setenv("WORKBENCH_DATA_DIRS", str(tmp_path))
    return tmp_path


def test_datasets_page_refuses_a_typed_path_outside_the_allowed_folders(workspace, tmp_path):
    source = write_jsonl(tmp_path / "qa.jsonl", [{"prompt": "p", "completion": "c"}])
    at = page("views/datasets.py")
    at.text_input(key="import_path").input(str(workspace / ".." / "qa.jsonl"))
    at.button(key="import").click().run()
    assert not at.exception
    assert not at.success
    assert at.error[0].value.startswith(f"{workspace / '..' / 'qa.jsonl'}: outside the allowed "
                                        f"folders ({workspace.resolve()}, ")
    assert source.exists()


def test_datasets_page_imports_a_file_with_a_column_mapping(workspace, data_dir):
    source = write_jsonl(data_dir / "qa.jsonl", [{"question": "Q?", "answer": "A."}])
    at = page("views/datasets.py")
    at.text_input(key="import_path").input(str(source))
    at.text_input(key="columns").input("question=instruction, answer=output")
    at.button(key="import").click().run()
    assert not at.exception
    assert at.success[0].value.startswith("Imported as dataset 2: format alpaca · rows in 1")


def test_datasets_page_lists_the_rejected_lines_of_an_import(workspace, data_dir):
    source = write_jsonl(data_dir / "qa.jsonl", [{"instruction": "Q?", "output": "A."},
                                                 '{"instruction": "broken',
                                                 {"instruction": "no output"}])
    at = page("views/datasets.py")
    at.text_input(key="import_path").input(str(source))
    at.button(key="import").click().run()
    assert not at.exception
    assert at.warning[0].value.startswith("2 row(s) rejected, each kept with its line and reason")
    assert at.dataframe[0].value.values.tolist() == [  # above the datasets table
        [2, "invalid_json", "not valid JSON: Unterminated string starting at column 17"],
        [3, "missing_field", "alpaca: field 'output' is missing"]]


def test_datasets_page_refuses_an_unknown_shape_with_one_message(workspace, data_dir):
    source = write_jsonl(data_dir / "qa.jsonl", [{"question": "Q?", "answer": "A."}])
    at = page("views/datasets.py")
    at.text_input(key="import_path").input(str(source))
    at.button(key="import").click().run()
    assert not at.exception
    assert at.error[0].value.startswith(f"{source}: unrecognized format: rows have keys answer, "
                                        "question")


def test_versions_page_freezes_exports_and_estimates_the_cost(workspace):
    at = page("views/versions.py")
    at.button(key="freeze").click().run()
    assert at.success[0].value.endswith("· 9 rows")  # 10 examples, one duplicate
    at.selectbox(key="export_format").select("openai").run()
    at.button(key="export").click().run()
    assert at.success[0].value.startswith("Wrote 9 rows to ")
    written = Path(at.text_input(key="export_path").value)
    assert len(written.read_text().splitlines()) == 9
    at.button(key="estimate").click().run()
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Epochs"] == "11"  # 9 rows: 100 // 9
    assert not at.exception


@pytest.mark.parametrize("name, data, message", [
    ("empty.jsonl", b"", "the file is empty"),
    ("binary.jsonl", b"\x89PNG\r\n\x1a\n\x00\x00",
     "binary file (NUL byte at offset 8), not UTF-8 text"),
    ("repr.jsonl", b"{'prompt': 'p', 'completion': 'c'}\n",
     "no readable row (1 malformed; line 1: invalid_json: not JSON (looks like a Python dict: "
     "use double quotes))"),
])
def test_datasets_page_turns_bad_files_into_one_error_line(workspace, data_dir, name, data,
                                                           message):
    source = data_dir / name
    source.write_bytes(data)
    at = page("views/datasets.py")
    at.text_input(key="import_path").input(str(source))
    at.button(key="import").click().run()
    assert not at.exception
    assert [e.value for e in at.error] == [f"{source}: {message}"]


def test_the_version_export_follows_version_and_format_and_is_a_download(workspace):
    at = page("views/versions.py")
    at.button(key="freeze").click().run()
    vid = at.selectbox(key="export_version").value
    assert vid == at.dataframe[0].value["id"].iloc[0]  # the newest by default
    at.selectbox(key="export_format").select("openai").run()
    assert [b.proto.label for b in at.get("download_button")] == [
        f"Download {vid}-openai.jsonl (9 rows)"]
    assert at.text_input(key="export_path").value.endswith(f"exports/{vid}-openai.jsonl")
    at.selectbox(key="export_format").select("sharegpt").run()
    assert [b.proto.label for b in at.get("download_button")] == [
        f"Download {vid}-sharegpt.json (9 rows)"]
    assert at.text_input(key="export_path").value.endswith(f"exports/{vid}-sharegpt.json")
