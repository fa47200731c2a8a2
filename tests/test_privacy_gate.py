"""The privacy gate's one rule (curation.privacy_gate.gate_decision), on plain counts."""

from curation.privacy_gate import gate_decision

OVERRIDE = {"who": "alice", "at": "2026-01-02 03:04:05", "reason": "synthetic names",
            "unreviewed": 1, "accepted_not_redacted": 0}


def counts(unreviewed=0, accepted=0, by_entity=None, threshold=0.4):
    return {"unreviewed": unreviewed, "accepted_not_redacted": accepted,
            "by_entity": by_entity or {}, "threshold": threshold}


def test_nothing_open_opens_the_gate_whatever_the_override():
    for override in (None, OVERRIDE):
        decision = gate_decision(counts(), override)
        assert (decision.passes, decision.state, decision.reasons, decision.override,
                decision.refusal) == (True, "open", (), None, "")


def test_one_unreviewed_finding_at_085_closes_the_gate_with_that_reason():
    decision = gate_decision(counts(1, by_entity={"PERSON": 1}, threshold=0.85), None)
    assert (decision.passes, decision.state) == (False, "blocked")
    assert decision.reasons == ("1 unreviewed PII finding(s) with score >= 0.85",)
    assert decision.refusal == (
        "privacy gate: 1 unreviewed PII finding(s) with score >= 0.85 and 0 accepted but not "
        "redacted (PERSON 1); review them (`workbench privacy-findings`, `privacy-bulk`), "
        "redact, or have an admin override (`workbench privacy-override`)")


def test_accepted_but_unredacted_findings_block_too():
    decision = gate_decision(counts(0, 2, {"EMAIL_ADDRESS": 2}), None)
    assert decision.reasons == ("2 accepted PII finding(s) not redacted",)
    assert not decision.passes


def test_an_override_of_this_version_lets_open_findings_through():
    decision = gate_decision(counts(1, 1, {"PERSON": 2}), OVERRIDE)
    assert (decision.passes, decision.state, decision.override) == (True, "overridden",
                                                                    OVERRIDE)
    assert decision.reasons == ("1 unreviewed PII finding(s) with score >= 0.4",
                                "1 accepted PII finding(s) not redacted")
    assert decision.refusal == ""
