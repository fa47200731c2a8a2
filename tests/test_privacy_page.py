"""The Privacy page: the training gate from the UI (blocked, bulk-resolved, overridden).

The prepared workspace (conftest ``workspace``) has one PERSON finding (0.85) in example 3."""


import pytest
from streamlit.testing.v1 import AppTest

from tests.prepared import admin_page
from workbench.errors import StageError
from workbench.store import open_workspace
from workbench.store import privacy as store


def page() -> AppTest:
    return admin_page("views/privacy.py")


def test_page_shows_the_gate_blocked_with_the_finding_in_context(workspace):
    at = page()
    assert not at.exception, at.exception
    assert at.error[0].value == ("Training is blocked: 1 unreviewed finding(s) with score "
                                 ">= 0.4 and 0 accepted but not redacted.")
    assert at.dataframe[0].value.loc["PERSON", "unreviewed"] == 1
    findings = at.dataframe(key="findings").value
    assert findings[["example", "status", "context"]].values.tolist() == [
        [3, "unreviewed", "…[[Ques]]tion 2?…"]]


def test_bulk_reject_from_the_page_opens_the_gate(workspace):
    at = page()
    at.text_input(key="reviewer").input("rita")
    at.text_input(key="bulk_reason").input("numbered questions, no people")
    at.button(key="bulk").click()
    at.run()
    assert not at.exception, at.exception
    assert at.success[0].value == "1 finding(s) decided"
    assert at.success[1].value.startswith("Training gate: open.")
    with open_workspace(workspace) as ws:
        assert [(f["status"], f["who"]) for f in store.findings(ws, 1)] == [("reject", "rita")]


def test_override_from_the_page_needs_a_name_and_a_reason_then_lets_training_through(
        workspace):
    at = page()  # logged in with the app's admin password: no privacy-admin grant needed
    at.text_input(key="override_reason").input("synthetic data")
    at.button(key="override").click()
    at.run()
    assert at.error[-1].value == "an override needs the name of the admin who makes it"
    with open_workspace(workspace) as ws:
        version = ws.record_version(1)
        with pytest.raises(StageError, match="privacy gate: 1 unreviewed"):
            store.check_gate(ws, 1, version)
    at.text_input(key="reviewer").input("alice")
    at.button(key="override").click()
    at.run()
    assert not at.exception, at.exception
    assert at.success[0].value == "Override recorded in the audit log"
    assert at.warning[0].value.startswith("Training gate: overridden by alice (")
    with open_workspace(workspace) as ws:
        facts = store.check_gate(ws, 1, version)
    assert (facts["override"]["who"], facts["override"]["reason"]) == ("alice", "synthetic data")
