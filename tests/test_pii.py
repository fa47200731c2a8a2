"""PII scan: exact spans, overlap policy, the redaction of scanned spans, and no network at all."""

from __future__ import annotations

import pytest
import spacy.cli
import tldextract

from curation import pii
from curation.pii import (
    PiiConfig,
    Span,
    resolve_overlaps,
    scan,
    scan_messages,
)
from curation.pii_redact import RedactionPolicy, redact_text
from common.errors import WorkbenchError

CONTACT = "Contact Marta Kowalczyk at marta.k@example.com or (555) 010-4477."


@pytest.fixture(autouse=True)
def empty_home(tmp_path, monkeypatch):
    """A fresh HOME and empty caches: nothing downloaded earlier can hide a fetch."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("TLDEXTRACT_CACHE", str(tmp_path / "tldextract"))
    return tmp_path


def test_contact_line_gives_person_email_and_phone_at_exact_offsets():
    assert scan([CONTACT]) == [
        [
            Span("PERSON", 8, 23, 0.85),
            Span("EMAIL_ADDRESS", 27, 46, 1.0),
            Span("PHONE_NUMBER", 50, 64, 0.4),
        ]
    ]
    assert [CONTACT[8:23], CONTACT[27:46], CONTACT[50:64]] == [
        "Marta Kowalczyk",
        "marta.k@example.com",
        "(555) 010-4477",
    ]


def test_email_is_one_span_even_with_url_enabled():
    config = PiiConfig(entities=("EMAIL_ADDRESS", "URL"))
    assert scan(["Write to marta.k@example.com today."], config) == [
        [Span("EMAIL_ADDRESS", 9, 28, 1.0)]
    ]


def test_date_time_is_not_reported_by_default():
    text = "Marta Kowalczyk was born on 3 March 1990."
    assert [s.entity_type for s in scan([text])[0]] == ["PERSON"]
    with_dates = PiiConfig(entities=("PERSON", "DATE_TIME"))
    assert [s.entity_type for s in scan([text], with_dates)[0]] == ["PERSON", "DATE_TIME"]


def test_phone_without_context_needs_the_phone_threshold_override():
    assert scan([CONTACT], PiiConfig(entity_thresholds=()))[0] == [
        Span("PERSON", 8, 23, 0.85),
        Span("EMAIL_ADDRESS", 27, 46, 1.0),
    ]


def test_batch_scan_equals_one_text_at_a_time():
    texts = [CONTACT, "", "Tom has 3 apples.", "My phone number is 212-555-0199", CONTACT * 2]
    assert scan(texts) == [scan([text])[0] for text in texts]


def test_scan_of_no_texts_is_empty():
    assert scan([]) == []


def test_resolve_overlaps_keeps_highest_score_then_longest():
    spans = [
        Span("URL", 35, 46, 0.5),
        Span("EMAIL_ADDRESS", 27, 46, 1.0),
        Span("PERSON", 0, 5, 0.85),
        Span("LOCATION", 0, 9, 0.85),
        Span("US_SSN", 9, 12, 0.5),
    ]
    assert resolve_overlaps(spans) == [
        Span("LOCATION", 0, 9, 0.85),
        Span("US_SSN", 9, 12, 0.5),
        Span("EMAIL_ADDRESS", 27, 46, 1.0),
    ]


def test_scan_messages_rows_carry_offsets_but_never_the_value():
    examples = [
        [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": CONTACT}],
        [{"role": "user", "content": "Add 7 and 8, then halve it."}],
    ]
    rows = scan_messages(examples)
    assert rows == [
        {"example_index": 0, "message_index": 1, "entity_type": "PERSON",
         "start": 8, "end": 23, "score": 0.85, "region": None, "region_assumed": None},
        {"example_index": 0, "message_index": 1, "entity_type": "EMAIL_ADDRESS",
         "start": 27, "end": 46, "score": 1.0, "region": None, "region_assumed": None},
        {"example_index": 0, "message_index": 1, "entity_type": "PHONE_NUMBER",
         "start": 50, "end": 64, "score": 0.4, "region": "US", "region_assumed": True},
    ]
    assert pii.count_by_entity(rows) == {"EMAIL_ADDRESS": 1, "PERSON": 1, "PHONE_NUMBER": 1}


def test_redact_text_replaces_each_scanned_span_with_its_entity_type():
    assert redact_text(CONTACT, scan([CONTACT])[0], RedactionPolicy(), "x" * 16) == (
        "Contact <PERSON> at <EMAIL_ADDRESS> or <PHONE_NUMBER>."
    )


def test_redact_text_refuses_spans_outside_the_text():
    with pytest.raises(ValueError, match="outside a text of 5 characters"):
        redact_text("short", [Span("PERSON", 2, 9, 0.85)], RedactionPolicy(), "x" * 16)


def test_invalid_config_reports_every_problem_at_once():
    with pytest.raises(WorkbenchError, match="thresholds must lie in.*batch_size must be >= 1"):
        PiiConfig(score_threshold=1.5, batch_size=0)


def test_unknown_entity_type_is_refused():
    with pytest.raises(WorkbenchError, match="Unknown PII entity types: PASSPORT_NUMBER_XX"):
        scan(["x"], PiiConfig(entities=("PERSON", "PASSPORT_NUMBER_XX")))


def test_engine_builds_and_scans_offline_with_empty_caches(empty_home, network_calls):
    pii.analyzer.cache_clear()
    pii._offline_tld_extractor.cache_clear()
    config = PiiConfig(entities=pii.DEFAULT_ENTITIES + ("URL",))
    assert [s.entity_type for s in scan([CONTACT, "see www.example.org"], config)[1]] == ["URL"]
    assert scan(["Write to marta.k@example.com"], config)[0] == [
        Span("EMAIL_ADDRESS", 9, 28, 1.0)
    ]
    assert network_calls == []
    assert not (empty_home / "tldextract").exists()
    assert not (empty_home / "xdg").exists()


def test_default_tldextract_would_fetch_so_the_guard_is_real(empty_home, network_calls):
    extractor = tldextract.TLDExtract(cache_dir=str(empty_home / "tldextract"))
    assert extractor("marta.k@example.com").fqdn == "example.com"
    assert [call[0] for call in network_calls] == ["publicsuffix.org", "raw.githubusercontent.com"]


def test_engine_build_never_calls_spacy_download(monkeypatch):
    downloads = []
    monkeypatch.setattr(spacy.cli, "download", lambda *a, **k: downloads.append(a))
    pii.analyzer.cache_clear()
    pii.analyzer()
    assert downloads == []


def test_missing_spacy_model_is_an_error_not_a_download(monkeypatch):
    downloads = []
    monkeypatch.setattr(spacy.cli, "download", lambda *a, **k: downloads.append(a))
    with pytest.raises(WorkbenchError, match="'en_core_web_sm' is not installed"):
        pii.analyzer("en_core_web_sm", "en")
    assert downloads == []


def test_engine_runs_spacy_ner_only_and_lemmas_option_adds_the_lemmatizer():
    assert pii.analyzer().nlp_engine.nlp["en"].pipe_names == ["ner"]
    lemma_nlp = pii.analyzer(pii.DEFAULT_SPACY_MODEL, "en", True).nlp_engine.nlp["en"]
    assert lemma_nlp.pipe_names == ["tok2vec", "tagger", "attribute_ruler", "lemmatizer", "ner"]


def test_ner_only_pipeline_finds_the_same_entities_as_the_full_one():
    text = "Marta Kowalczyk flew from Warsaw to Acme Corp in Boston on 3 May 2021."
    full = spacy.load(pii.DEFAULT_SPACY_MODEL)(text)
    lean = pii.analyzer().nlp_engine.nlp["en"](text)
    assert [(e.start_char, e.end_char, e.label_) for e in lean.ents] == [
        (e.start_char, e.end_char, e.label_) for e in full.ents]


def test_in_place_context_enhancer_scores_as_presidios_enhancer():
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.context_aware_enhancers import LemmaContextAwareEnhancer

    ours = pii.analyzer()
    theirs = AnalyzerEngine(nlp_engine=ours.nlp_engine, registry=ours.registry,
                            supported_languages=["en"],
                            context_aware_enhancer=LemmaContextAwareEnhancer())
    texts = ["My phone number is 212-555-0199.", "Call 212-555-0199 today",
             "The number 212-555-0199 again", "Her mobile: +44 20 7946 0958"]
    for text in texts:
        a = sorted((r.entity_type, r.start, r.end, r.score)
                   for r in ours.analyze(text, language="en", context=["cell"]))
        b = sorted((r.entity_type, r.start, r.end, r.score)
                   for r in theirs.analyze(text, language="en", context=["cell"]))
        assert a == b
    phone = [r for r in ours.analyze(texts[0], language="en", entities=["PHONE_NUMBER"])]
    assert [(r.start, r.end, r.score) for r in phone] == [(19, 31, 0.75)]


def test_digit_gated_phone_recognizer_equals_presidios_and_skips_texts_without_digits():
    from presidio_analyzer.predefined_recognizers import PhoneRecognizer

    gated, plain = pii.DigitGatedPhoneRecognizer(), PhoneRecognizer()
    for text in ["Call (555) 010-4477 now", "+49 30 901820", "tel 0044 20 7946 0958",
                 "on 2021-05-03 at 10:30", "no digits here", "12345", "1 2 3 4 5 6 7",
                 "Call 1640 now", "Call 16 40 now", "Call 164 now"]:
        assert ([(r.start, r.end) for r in gated.analyze(text, ["PHONE_NUMBER"])]
                == [(r.start, r.end) for r in plain.analyze(text, ["PHONE_NUMBER"])])
    assert [(r.start, r.end) for r in gated.analyze("Call (555) 010-4477 now",
                                                    ["PHONE_NUMBER"])] == [(5, 19)]
    assert [(r.start, r.end) for r in gated.analyze("Call 1640 now", ["PHONE_NUMBER"])] == [
        (5, 9)]  # a valid 4-digit DE number: the gate must let it through
    assert pii._DIGIT_RUN.search("call 1-23 or 4, 5a6") is None


def test_ner_runs_matrix_products_through_numpy_not_blis():
    nodes = list(pii.analyzer().nlp_engine.nlp["en"].get_pipe("ner").model.walk())
    assert {type(node.ops).__name__ for node in nodes} == {"NumpyOps"}
    assert {node.ops.use_blis for node in nodes} == {False}


def test_cached_registry_answers_as_presidios_and_misses_after_a_change():
    from presidio_analyzer import RecognizerRegistry

    registry = pii.analyzer().registry
    plain = RecognizerRegistry(recognizers=list(registry.recognizers),
                               supported_languages=["en"])
    for entities in (["PHONE_NUMBER"], ["PERSON", "EMAIL_ADDRESS"], list(pii.DEFAULT_ENTITIES)):
        assert ({r.id for r in registry.get_recognizers("en", entities)}
                == {r.id for r in plain.get_recognizers("en", entities)})
    fresh = pii.CachedRecognizerRegistry(recognizers=[pii.OfflineEmailRecognizer()],
                                         supported_languages=["en"])
    assert len(fresh.get_recognizers("en", ["EMAIL_ADDRESS"])) == 1
    fresh.add_recognizer(pii.OfflineEmailRecognizer(name="second"))
    assert len(fresh.get_recognizers("en", ["EMAIL_ADDRESS"])) == 2


def test_forked_scan_finds_exactly_what_one_process_finds():
    first = ["Maria", "John", "Aiko", "Pedro", "Fatima"]
    texts = [f"Ticket {i}: {first[i % 5]} Novak wrote from m{i}@example.org, call "
             f"+44 20 7946 {i:04d}." if i % 3 else f"Step {i}: add {i} apples to the basket."
             for i in range(450)]  # 450 distinct texts: two parts of 225 (>= 200 each)
    one = pii.scan(texts)
    assert pii.scan(texts, processes=2) == one
    assert sum(1 for spans in one for s in spans if s.entity_type == "EMAIL_ADDRESS") == 300
    # "Ticket 1: John Novak wrote from m1@example.org, call +44 20 7946 0001."
    assert one[1] == [pii.Span("PERSON", 10, 20, 0.85), pii.Span("EMAIL_ADDRESS", 32, 46, 1.0),
                      pii.Span("PHONE_NUMBER", 53, 69, 0.6)]


def test_a_small_scan_does_not_fork(monkeypatch):
    def no_fork(*args):
        raise AssertionError("forked for 399 distinct texts")

    monkeypatch.setattr(pii, "_scan_forked", no_fork)
    texts = [f"Row {i} has no PII." for i in range(399)]  # 399 // 200 = 1 process
    assert pii.scan(texts, processes=4) == [[]] * 399
