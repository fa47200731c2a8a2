"""Each detection fix on a hand-written sentence, with exact spans; plus the bench's scoring."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from curation.pii import PiiConfig, Span, language_supported, scan, scan_messages
from curation.pii_recognizers import FirmNameRecognizer

ALL = PiiConfig(entities=("PERSON", "STREET_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD",
                          "US_DRIVER_LICENSE", "LOCATION", "DATE_TIME", "EMAIL_ADDRESS",
                          "URL"))


def spans(text: str, config: PiiConfig = ALL) -> list[tuple[str, str, float]]:
    return [(s.entity_type, text[s.start:s.end], s.score) for s in scan([text], config)[0]]


def test_street_address_with_city_and_country_on_one_line_is_one_span():
    text = "Send it to 221 Baker Street, London, United Kingdom please."
    assert scan([text], ALL)[0] == [Span("STREET_ADDRESS", 11, 51, 0.7)]
    assert text[11:51] == "221 Baker Street, London, United Kingdom"


def test_multiline_address_keeps_unit_and_city_and_leaves_the_country_line_a_location():
    text = "Office:\n48 Friedrichstraße 12\nApt. 4\nBerlin\nGermany"
    assert spans(text) == [("STREET_ADDRESS", "48 Friedrichstraße 12\nApt. 4\nBerlin", 0.7),
                           ("LOCATION", "Germany", 0.85)]


def test_street_address_is_on_by_default_and_beats_the_person_spacy_sees_in_it():
    text = "Ciset lives on Rua Mina 50 street."
    assert spans(text, PiiConfig()) == [("STREET_ADDRESS", "Rua Mina 50", 0.7)]


def test_a_verb_at_line_start_is_no_street():
    assert spans("Drive to work: 200 minutes", PiiConfig()) == []


def test_lower_case_name_after_my_name_is_stops_at_but():
    text = "my name is borna jerković but everyone calls me borna"
    assert spans(text) == [("PERSON", "borna jerković", 0.85), ("PERSON", "borna", 0.85)]


def test_upper_case_name_and_middle_initial():
    assert spans("MY NAME IS ANNA NOWAK") == [("PERSON", "ANNA NOWAK", 0.85)]
    assert spans("My name is Vanessa P. Hertzog but") == [("PERSON", "Vanessa P. Hertzog", 0.85)]


def test_international_phone_after_a_label_and_plus_prefix():
    assert spans("Desk: +41 (0)96 471 07 95") == [("PHONE_NUMBER", "+41 (0)96 471 07 95", 0.6)]
    assert spans("They're not answering at 0680 298 70 63") == [
        ("PHONE_NUMBER", "0680 298 70 63", 0.6)]


def test_name_does_not_run_into_the_next_line():
    assert spans("Name: Leigha Mackay\nPhone: 032 288 79 44") == [
        ("PERSON", "Leigha Mackay", 0.85), ("PHONE_NUMBER", "032 288 79 44", 0.75)]


def test_card_number_after_its_label_needs_a_valid_luhn_checksum():
    assert spans("What is the limit for card 213173282369527?") == [
        ("CREDIT_CARD", "213173282369527", 0.9)]
    assert spans("What is the limit for card 213173282369528?") == []


def test_driver_license_after_its_label_beats_the_phone_reading():
    assert spans("My driver's license number is 5130634") == [
        ("US_DRIVER_LICENSE", "5130634", 0.9)]


def test_possessive_is_cut_and_relative_dates_and_ages_are_not_dates():
    text = "Next week the 33 year old Sally Chen's dog barked on 3 March 1990."
    assert spans(text) == [("PERSON", "Sally Chen", 0.85), ("DATE_TIME", "3 March 1990", 0.85)]


def test_allow_list_drops_a_value_and_deny_list_adds_one():
    config = PiiConfig(allow_list=("sally chen",), deny_list=(("PERSON", "Zorblax"),))
    assert spans("Sally Chen met Zorblax.", config) == [("PERSON", "Zorblax", 1.0)]


def test_email_stays_one_span_with_url_on():
    assert spans("Write to marta.k@example.com today.") == [
        ("EMAIL_ADDRESS", "marta.k@example.com", 1.0)]


def test_greek_message_gets_an_unsupported_language_finding_not_silence():
    greek = "Η Μαρία ζει στην Αθήνα και δουλεύει σε τράπεζα."
    assert not language_supported(greek)
    assert language_supported("Tom has 3 apples and gives 2 to Ann. How many are left?")
    rows = scan_messages([[{"role": "user", "content": greek}]])
    assert rows[0] == {"example_index": 0, "message_index": 0,
                       "entity_type": "UNSUPPORTED_LANGUAGE", "start": 0, "end": 0,
                       "score": 1.0, "region": None, "region_assumed": None}


@pytest.fixture(scope="module")
def bench():
    path = Path(__file__).resolve().parents[1] / "bench" / "pii_eval.py"
    spec = importlib.util.spec_from_file_location("pii_eval", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_token_and_span_scores_count_as_presidio_research_does(bench):
    text = "Ann Bo lives in Oslo"
    gold = [[Span("PERSON", 0, 6, 1.0), Span("LOCATION", 16, 20, 1.0)]]
    predicted = [[Span("PERSON", 0, 3, 0.85), Span("PERSON", 16, 20, 0.85)]]
    scores = bench.score([text], gold, predicted)
    assert scores["token"]["PERSON"] == {"precision": 0.5, "recall": 0.5, "f2": 0.5,
                                         "tp": 1, "fp": 1, "fn": 1}
    assert scores["token"]["LOCATION"]["fn"] == 1
    # overall is presidio-research's PII score: "Oslo" is PII on both sides, whatever class
    assert scores["token"]["overall"] == {"precision": 1.0, "recall": 0.6667, "f2": 0.7143,
                                          "tp": 2, "fp": 0, "fn": 1}
    assert scores["token"]["overall_typed"]["tp"] == 1
    assert scores["span"]["overall"] == {"precision": 0.0, "recall": 0.0, "f2": 0.0,
                                         "tp": 0, "fp": 2, "fn": 2}


def test_token_is_labelled_by_the_span_holding_its_first_character(bench):
    text = "Mail to bob@example.com at 12 Main St now"
    gold = [[Span("EMAIL_ADDRESS", 8, 23, 1.0), Span("LOCATION", 27, 37, 1.0)]]
    # spaCy keeps the address as one token; a span starting inside it does not label it
    predicted = [[Span("EMAIL_ADDRESS", 12, 23, 1.0), Span("STREET_ADDRESS", 27, 37, 0.7)]]
    scores = bench.score([text], gold, predicted)
    assert scores["token"]["EMAIL_ADDRESS"] == {"precision": 0.0, "recall": 0.0, "f2": 0.0,
                                                "tp": 0, "fp": 0, "fn": 1}
    assert scores["token"]["LOCATION"] == {"precision": 1.0, "recall": 1.0, "f2": 1.0,
                                           "tp": 3, "fp": 0, "fn": 0}


def test_bench_reports_labels_outside_the_mapping(bench, tmp_path):
    data = tmp_path / "d.json"
    data.write_text('[{"full_text": "Bo is 7", "template_id": 1, "spans": ['
                    '{"entity_type": "PET_NAME", "start_position": 0, "end_position": 2},'
                    '{"entity_type": "AGE", "start_position": 6, "end_position": 7}]}]')
    figures = bench.main(["--data", str(data), "--no-speed"])
    assert figures["unmapped_labels"] == {"PET_NAME": 1}
    assert figures["unscored_labels"] == {"AGE": 1}


def test_bench_names_the_bad_record(bench, tmp_path):
    data = tmp_path / "d.json"
    data.write_text('[{"full_text": "ok", "spans": []}, {"full_text": 3}]')
    with pytest.raises(ValueError, match="record 1: field 'full_text' must be text"):
        bench.load_records(data)


def test_a_given_name_that_spacy_calls_an_organization_is_a_person():
    config = PiiConfig(entities=("PERSON", "ORGANIZATION"))
    assert spans("We need to add Thelma Mitchell as guardian.", config) == [
        ("PERSON", "Thelma Mitchell", 0.85)]
    assert spans("We need to add Thelma Mitchell as guardian.",
                 PiiConfig(entities=("ORGANIZATION",))) == [
        ("ORGANIZATION", "Thelma Mitchell", 0.85)]


def test_weak_street_words_need_a_house_number():
    assert spans("Article 50 of the Treaty on European Union applies.") == []
    assert spans("They live at 12 Hyde Park.") == [("STREET_ADDRESS", "12 Hyde Park", 0.7)]


def test_military_address_and_the_postcode_after_a_country_line():
    assert spans("Send it to USNS Bergman\nFPO AP 93757 soon.") == [
        ("STREET_ADDRESS", "USNS Bergman\nFPO AP 93757", 0.7)]
    assert spans("Vogelsang Str 4\nApt. 329\nZurich\nSwitzerland 91321") == [
        ("STREET_ADDRESS", "Vogelsang Str 4\nApt. 329\nZurich", 0.7),
        ("LOCATION", "Switzerland", 0.85), ("STREET_ADDRESS", "91321", 0.7)]


def test_company_word_makes_an_organization_and_a_leading_the_is_dropped():
    config = PiiConfig(entities=("ORGANIZATION",))
    assert spans("He moved to American Red Ball Movers last year.", config) == [
        ("ORGANIZATION", "American Red Ball Movers", 0.85)]
    assert spans("The Garmin Orchestra was founded in 1977.", config) == [
        ("ORGANIZATION", "Garmin Orchestra", 0.85)]


def test_firm_names_lower_case_names_extensions_and_clock_times():
    config = PiiConfig(entities=("PERSON", "ORGANIZATION", "PHONE_NUMBER", "DATE_TIME"))
    text = ("Davis, Reynolds and Williamson hired naomi ryan; call 345-899-3560x4587 "
            "before 2015-12-22 04:34:22 at the ATM.")
    assert [(s.entity_type, text[s.start:s.end]) for s in scan([text], config)[0]] == [
        ("ORGANIZATION", "Davis, Reynolds and Williamson"), ("PERSON", "naomi ryan"),
        ("PHONE_NUMBER", "345-899-3560x4587"), ("DATE_TIME", "2015-12-22 04:34:22")]
    firms = FirmNameRecognizer()
    assert [(r.start, r.end) for r in firms.analyze("then ask Weeks-Rivas.", ["ORGANIZATION"])] == [
        (9, 20)]
    assert firms.analyze("Ask Ana García-López.", ["ORGANIZATION"]) == []


def test_relative_dates_without_a_calendar_name_are_dropped_weekdays_kept():
    config = PiiConfig(entities=("DATE_TIME",))
    text = "It took a couple of months, then on Thursday we met."
    assert [text[s.start:s.end] for s in scan([text], config)[0]] == ["Thursday"]
