"""The Privacy page: the training gate from the UI (blocked, bulk-resolved, overridden).

The prepared workspace (conftest ``workspace``) has one PERSON finding (0.85) in example 3."""

import ast
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.prepared import admin_page
from workbench.stages import privacy as privacy_stage
from common.errors import StageError
from workbench.store import open_workspace
from workbench.store import privacy as store
from workbench.store.versions import record_version


def page() -> AppTest:
    return admin_page("views/privacy.py")


def test_page_shows_the_gate_blocked_with_the_finding_in_context(workspace):
    at = page()
    assert not at.exception, at.exception
    assert at.error[0].value == ("Training is blocked: 1 unreviewed finding(s) with score "
                                 ">= 0.4 and 0 accepted but not redacted.")
    assert at.dataframe[0].value.loc["PERSON", "unreviewed"] == 1
    assert (at.selectbox(key="entity").value, at.selectbox(key="status").value) == (
        "all types", "blocks training")  # the page opens on what blocks training
    findings = at.dataframe(key="findings").value
    assert findings[["example", "type", "status", "context"]].values.tolist() == [
        [3, "PERSON", "unreviewed", "[[Ques]]tion 2?"]]


def test_bulk_reject_says_how_many_it_decides_asks_then_opens_the_gate(workspace):
    at = page()
    assert "bulk" not in [b.key for b in at.button]  # one entity type at a time
    at.selectbox(key="entity").select("PERSON").run()
    at.text_input(key="reviewer").input("rita")
    at.text_input(key="bulk_reason").input("numbered questions, no people")
    at.button(key="bulk").click().run()
    assert not at.exception, at.exception
    assert at.warning[0].value == ("This will reject 1 finding(s): every unreviewed PERSON "
                                   "finding at score ≥ 0.00. Confirm?")
    assert at.button(key="bulk_confirm").label == "Confirm: reject 1 finding(s)"
    with open_workspace(workspace) as ws:  # nothing decided before the confirmation
        assert [f["status"] for f in store.findings(ws, 1)] == ["unreviewed"]
    at.button(key="bulk_confirm").click().run()
    assert not at.exception, at.exception
    assert at.success[0].value == "1 finding(s) decided"
    assert at.success[1].value.startswith("Training gate: open.")
    assert at.text_input(key="bulk_reason").value == ""  # the reason does not carry over
    assert "bulk_confirm" not in [b.key for b in at.button]
    with open_workspace(workspace) as ws:
        assert [(f["status"], f["who"]) for f in store.findings(ws, 1)] == [("reject", "rita")]


def more_findings(workspace) -> None:
    """Examples 4-6 get an EMAIL_ADDRESS finding each (0.9, 0.3, 0.95) and example 5 a
    PERSON one (0.2): scores 0.3 and 0.2 are under the gate's 0.4."""
    with open_workspace(workspace) as ws:
        ws.insert("pii_spans", [
            {"dataset_id": 1, "example_id": e, "message_index": 1,
             "entity_type": kind, "start_char": 0, "end_char": 6, "score": score,
             "region": None, "region_assumed": None}
            for e, kind, score in ((4, "EMAIL_ADDRESS", 0.9), (5, "EMAIL_ADDRESS", 0.3),
                                   (6, "EMAIL_ADDRESS", 0.95), (5, "PERSON", 0.2))])


def test_the_page_opens_on_the_findings_that_block_training_only(workspace):
    more_findings(workspace)
    at = page()
    findings = at.dataframe(key="findings").value
    assert findings[["example", "type", "score"]].values.tolist() == [
        [6, "EMAIL_ADDRESS", 0.95], [4, "EMAIL_ADDRESS", 0.9], [3, "PERSON", 0.85]]
    assert "3 finding(s)" in [c.value for c in at.caption]
    at.selectbox(key="status").select("all").run()
    assert len(at.dataframe(key="findings").value) == 5


def test_bulk_count_follows_the_type_and_score_and_cancel_decides_nothing(workspace):
    more_findings(workspace)
    at = page()
    at.selectbox(key="entity").select("EMAIL_ADDRESS").run()
    at.slider(key="min_score").set_value(0.5)
    at.text_input(key="reviewer").input("rita")
    at.radio(key="bulk_decision").set_value("accept")
    at.text_input(key="bulk_reason").input("real addresses")
    at.button(key="bulk").click().run()
    assert at.warning[0].value == ("This will accept 2 finding(s): every unreviewed "
                                   "EMAIL_ADDRESS finding at score ≥ 0.50. Confirm?")
    at.button(key="bulk_cancel").click().run()
    assert not at.warning and at.text_input(key="bulk_reason").value == "real addresses"
    with open_workspace(workspace) as ws:
        assert {f["status"] for f in store.findings(ws, 1)} == {"unreviewed"}


def test_a_value_list_says_how_many_findings_it_matches(workspace):
    at = page()
    at.text_input(key="reviewer").input("rita")
    at.text_input(key="bulk_reason").input("not a name")
    at.text_input(key="list_name").input("words")
    at.text_area(key="list_values").input("ques\nnobody")
    at.button(key="list").click().run()
    assert at.warning[0].value == ("This will reject 1 finding(s): those whose text is one "
                                   "of the 2 value(s) of the list. Confirm?")
    at.button(key="bulk_confirm").click().run()
    assert at.success[0].value == "1 finding(s) decided"
    assert (at.text_input(key="list_name").value, at.text_area(key="list_values").value,
            at.text_input(key="bulk_reason").value) == ("", "", "")


def test_a_bulk_decision_without_a_reason_is_refused_before_any_confirmation(workspace):
    at = page()
    at.selectbox(key="entity").select("PERSON").run()
    at.text_input(key="reviewer").input("rita")
    at.button(key="bulk").click().run()
    assert at.error[-1].value == "A bulk decision needs a reason (kept in the audit log)."
    assert "bulk_confirm" not in [b.key for b in at.button]


def test_context_keeps_the_whole_span_and_whole_words_around_it():
    text = ("Please forward the signed contract to Margaret Hamilton-Price at the Leeds "
            "office before Friday so that legal can file it.")
    start = text.index("Margaret")
    end = start + len("Margaret Hamilton-Price")
    assert store.words_around(text, start, end, 3) == {
        "before": "signed contract to ", "value": "Margaret Hamilton-Price",
        "after": " at the Leeds", "cut_before": True, "cut_after": True}
    assert store.words_around("Call Ann\n\n now", 5, 8) == {
        "before": "Call ", "value": "Ann", "after": " now", "cut_before": False,
        "cut_after": False}


def test_override_from_the_page_needs_a_name_and_a_reason_then_lets_training_through(
        workspace):
    at = page()  # logged in with the app's admin password: no privacy-admin grant needed
    at.text_input(key="override_reason").input("synthetic data")
    at.button(key="override").click()
    at.run()
    assert at.error[-1].value == "an override needs the name of the admin who makes it"
    with open_workspace(workspace) as ws:
        version = record_version(ws, 1)
        with pytest.raises(StageError, match="privacy gate: 1 unreviewed"):
            privacy_stage.check_gate(ws, 1, version)
    at.text_input(key="reviewer").input("alice")
    at.button(key="override").click()
    at.run()
    assert not at.exception, at.exception
    assert at.success[0].value == "Override recorded in the audit log"
    assert at.warning[0].value.startswith("Training gate: overridden by alice (")
    with open_workspace(workspace) as ws:
        facts = privacy_stage.check_gate(ws, 1, version)
    assert (facts["override"]["who"], facts["override"]["reason"]) == ("alice", "synthetic data")


def test_redaction_operator_table_lists_the_types_and_its_choice_is_applied(workspace):
    at = page()
    assert at.data_editor(key="redact_operators").value.values.tolist() == [
        ["PERSON", "replace"]]
    with open_workspace(workspace) as ws:
        [finding] = store.findings(ws, 1)
        examples = {e["id"]: e["messages"] for e in ws.examples(1)}
    text = examples[finding["example_id"]][finding["message_index"]]["content"]
    start, end = finding["start_char"], finding["end_char"]
    assert text[start:end] == "Ques"
    at.text_input(key="reviewer").input("rita")
    at.checkbox(key="include_unreviewed").check()
    at.session_state["redact_operators"] = {
        "edited_rows": {0: {"operator": "mask"}}, "added_rows": [], "deleted_rows": []}
    at.button(key="redact").click()
    at.run()
    assert not at.exception, at.exception
    assert at.success[0].value == "Redacted 1 span(s) in 1 example(s); re-scan passed."
    with open_workspace(workspace) as ws:
        assert [(f["status"], f["who"]) for f in store.findings(ws, 1)] == [("redacted", "rita")]
        examples = {e["id"]: e["redacted_messages"] for e in ws.examples(1)}
    # mask: every character but the last 4, at least one
    assert examples[finding["example_id"]][finding["message_index"]]["content"] == (
        text[:start] + "*ues" + text[end:])


def test_page_operator_list_is_the_redaction_modules():
    from curation import pii_operators
    from curation.pii_redact import OPERATORS

    tree = ast.parse((Path(__file__).resolve().parents[1] / "views" / "privacy.py").read_text())
    imported = {(node.module, alias.name) for node in tree.body
                if isinstance(node, ast.ImportFrom) for alias in node.names}
    assigned = [node for node in tree.body
                if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "OPERATORS"]
    assert ("curation.pii_operators", "OPERATORS") in imported and assigned == []
    assert OPERATORS is pii_operators.OPERATORS == ("replace", "mask", "hash", "redact", "fake")


def test_a_phone_finding_shows_its_region_and_whether_it_was_assumed(workspace):
    with open_workspace(workspace) as ws:
        ws.insert("pii_spans", [
            {"dataset_id": 1, "example_id": 4, "message_index": 0, "entity_type": "PHONE_NUMBER",
             "start_char": 0, "end_char": 8, "score": 0.6, "region": "US",
             "region_assumed": True},
            {"dataset_id": 1, "example_id": 5, "message_index": 0, "entity_type": "PHONE_NUMBER",
             "start_char": 0, "end_char": 8, "score": 0.6, "region": "GB",
             "region_assumed": False}])
    at = page()
    at.selectbox(key="entity").select("PHONE_NUMBER").run()
    assert not at.exception, at.exception
    findings = at.dataframe(key="findings").value
    assert findings[["example", "region"]].values.tolist() == [[4, "US (assumed)"], [5, "GB"]]
