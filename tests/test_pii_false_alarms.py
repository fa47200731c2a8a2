"""PERSON and STREET_ADDRESS false alarms: the rules of curation.pii_false_alarms and the
street-cue rules of curation.pii_recognizers, on the rows where they were seen."""

from __future__ import annotations

from curation.formats import read_file
from curation.pii import PiiConfig, Span, scan, scan_messages
from curation.pii_false_alarms import Entity, person_false_alarms, single_case

ALL = PiiConfig(entities=("PERSON", "STREET_ADDRESS", "PHONE_NUMBER"))
WITH_ORGS = PiiConfig(entities=("PERSON", "STREET_ADDRESS", "PHONE_NUMBER", "ORGANIZATION"))


def test_call_me_at_gives_the_phone_number_and_no_person_at():
    assert scan(["Call me at 415-555-0132"]) == [[Span("PHONE_NUMBER", 11, 23, 0.6)]]


def test_a_french_verb_with_its_pronoun_is_no_person():
    assert scan(["Appelle-moi au 06 12 34 56 78."]) == [[Span("PHONE_NUMBER", 15, 29, 0.4)]]


def test_a_month_before_a_day_is_no_person():
    assert scan(["by 5:00PM on Jan 9th 2012"]) == [[]]


def test_a_given_name_spacy_reads_as_a_date_is_no_person():
    text = "It commenced services on 31 August 2000 with two aircraft."
    assert scan([text]) == [[]]


def test_clubs_after_the_word_club_are_no_people_but_the_player_is():
    text = ("Tomoaki Komorida joined the J1 League club Avispa Fukuoka in 2000. In 2006, he "
            "moved to the J2 club Vissel Kobe.")
    assert scan([text], ALL) == [[Span("PERSON", 0, 16, 0.85)]]


def test_a_name_sharing_a_word_with_an_airline_is_the_airline():
    text = ("Virgin Australia, the trading name of Virgin Australia Airlines Pty Ltd, is an "
            "Australian-based airline. It commenced services on 31 August 2000 as Virgin Blue.")
    assert [(s.entity_type, text[s.start:s.end]) for s in scan([text], WITH_ORGS)[0]] == [
        ("ORGANIZATION", "Virgin Australia Airlines Pty Ltd")]


def test_a_deny_list_name_is_never_dropped():
    config = PiiConfig(deny_list=(("PERSON", "at"),))
    assert scan(["Call me at 415-555-0132"], config) == [
        [Span("PERSON", 8, 10, 1.0), Span("PHONE_NUMBER", 11, 23, 0.6)]]


def test_shapes_no_name_has_in_mixed_case_text():
    text = "Do you call OpenAI or GPT-4 or Appelle-moi for jog aiming? Ask Delia Farnsworth."
    spans = [Entity("PERSON", a, b, "SpacyRecognizer")
             for a, b in ((12, 18), (22, 27), (31, 42), (47, 57), (63, 79))]
    assert [text[e.start:e.end] for e in spans] == [
        "OpenAI", "GPT-4", "Appelle-moi", "jog aiming", "Delia Farnsworth"]
    assert person_false_alarms(text, spans) == set(spans[:4])


def test_a_lower_case_name_from_the_name_lists_keeps_its_case_exemption():
    text = "I met naomi ryan yesterday."
    lower = Entity("PERSON", 6, 16, "LowercaseNameRecognizer")
    assert person_false_alarms(text, [lower]) == set()
    assert person_false_alarms(text, [Entity("PERSON", 6, 16, "SpacyRecognizer")]) != set()


def test_single_case_means_every_cased_letter_has_the_same_case():
    assert [single_case(t) for t in ("DELIA FARNSWORTH 12", "delia farnsworth", "Delia", "42")
            ] == [True, True, False, False]


def test_a_year_and_a_tournament_are_no_street_address():
    text = "He scored the most tries at 6 in the 2012 Provincial Under 21 in the Rugby Junior."
    assert scan([text], ALL) == [[]]


def test_a_number_name_number_address_with_a_unit_is_still_an_address():
    text = "Ship it to 6750 Koskikatu 25 Apt. 864, Artilleros."
    assert [(s.entity_type, text[s.start:s.end]) for s in scan([text], ALL)[0]] == [
        ("STREET_ADDRESS", "6750 Koskikatu 25 Apt. 864, Artilleros")]


def test_a_street_word_inside_a_city_name_needs_a_house_number():
    assert scan(["In 2005 he moved to the J2 club Montedio Yamagata. In 2006, he left."],
                PiiConfig(entities=("STREET_ADDRESS",))) == [[]]


def test_dolly_first_25_rows_give_no_club_airline_or_tournament_findings(shared_data):
    examples = [e.messages for e in read_file(shared_data / "dolly15k_first25.jsonl").examples]
    rows = scan_messages(examples)
    values = [(r["entity_type"], examples[r["example_index"]][r["message_index"]]["content"]
               [r["start"]:r["end"]]) for r in rows]
    assert len(rows) == 87  # 118 before these rules
    assert not {v for _, v in values} & {"Virgin Australia", "Virgin Blue", "Avispa Fukuoka",
                                         "Vissel Kobe", "2012 Provincial Under 21"}
    assert {t for t, _ in values} == {"PERSON"}
    assert ("PERSON", "Tomoaki Komorida") in values and ("PERSON", "Thomas Jefferson") in values
