"""One language test for validation and the PII scan (curation.language.uncovered_language)."""

import pytest

from curation.language import confirmed, evidence_words, uncovered_language
from curation.pii import language_supported, scan_messages
from curation.validate import ValidateConfig, check_language

GREEK = "Η Μαρία ζει στην Αθήνα και δουλεύει σε τράπεζα."
FRENCH = "La capitale de la France est Paris, une très belle ville au bord de la Seine."
ENGLISH = "Tom has 3 apples and gives 2 to Ann. How many are left?"
JAPANESE = "田中さんは毎朝七時に起きて、駅まで歩いて会社に行きます。"
SPANISH = "Mañana vamos a la playa con mis hermanos y después comemos en casa de la abuela."

# Short structured English: names, e-mails, phone numbers, "Key: value" lines, lists. The
# rule before evidence words flagged 12 of these 20 (the first: 'tl', p=0.43).
STRUCTURED_ENGLISH = [
    "Name: Aiko Tanaka\nEmail: aiko.tanaka@example.com\nPhone: 555-0187\nOffice: Osaka",
    "Contact: Jean-Pierre Dubois, jp.dubois@example.fr, +33 1 42 68 53 00, Lyon",
    "- Milk\n- Eggs\n- Bread\n- Butter\n- Coffee beans\n- Parmigiano Reggiano",
    "Attendees: Sven Lindqvist, Mette Kristiansen, Giuseppe Rossi, Ngozi Okonkwo, Hiroshi Sato",
    "Shipping address: Calle de la Paz 14, 28012 Madrid, España",
    "Invoice: 2023-117\nClient: Müller Bäckerei GmbH\nAmount: 1.250,00 EUR\nDue: 2023-09-30",
    "Tel: 555-0143 | Fax: 555-0144 | Web: www.example.com | Mail: info@example.com",
    "Languages: Python, Go, Rust, TypeScript\nFrameworks: Django, React, Tokio",
    "Ingredients: flour 200 g, sugar 100 g, eggs 2, butter 50 g, vanilla extract 1 tsp, salt",
    "name: juan de la cruz\nemail: juan.delacruz@example.com\nphone: +34 912 345 678",
    "1. Paris\n2. Lyon\n3. Marseille\n4. Toulouse\n5. Nice\n6. Nantes\n7. Strasbourg",
    "Dr. Olumide Adebayo-Okafor, MD, PhD\nDepartment of Cardiology\nLagos University Hospital",
    "Guests: Søren Kierkegaard, Björk Guðmundsdóttir, Zoë Saldaña, François Truffaut",
    "Username: kowalski_anna\nPassword hint: favourite cat\nLast login: 2024-02-11 08:15",
    "https://example.com/docs/setup, https://example.org/faq, mailto:help@example.net",
    "Mon-Fri: 09:00-17:00\nSat: 10:00-14:00\nSun: closed",
    "Flight: LH 1234\nFrom: Frankfurt (FRA)\nTo: São Paulo (GRU)\nSeat: 32A\nGate: B44",
    "Team roster: Kenji Watanabe (captain), Ana Lucía Fernández, Pieter van der Berg",
    "Colors: red, green, blue, yellow, orange, purple, magenta, cyan, turquoise, beige",
    "Emergency contact: Lars Nilsson, lars.nilsson@example.se, +46 8 123 456 78, Göteborg",
]


@pytest.mark.parametrize("text, expected", [
    (ENGLISH, None), ("Bonjour ?", None), ("Salut, ça va bien ?", None), (GREEK, "el"),
    (FRENCH, "fr")])
def test_uncovered_language_answers(text, expected):
    found = uncovered_language(text)
    assert (found and found[0]) == expected


def test_validation_and_pii_scan_give_the_same_answer():
    for text in (ENGLISH, GREEK, FRENCH, "Bonjour ?"):
        messages = [{"role": "user", "content": text}]
        flagged = [f.code for f in check_language(0, 1, messages, ValidateConfig())]
        rows = scan_messages([messages])
        pii_flag = any(r["entity_type"] == "UNSUPPORTED_LANGUAGE" for r in rows)
        assert (flagged == ["unsupported_language"]) == pii_flag == (not language_supported(text))
    # a short Greek row (38 letters) was below validation's old 40-letter floor: now flagged
    assert check_language(0, 7, [{"role": "user", "content": GREEK}], ValidateConfig())[0] \
        .message.startswith("row 7: looks like 'el' (p=")


@pytest.mark.parametrize("text", STRUCTURED_ENGLISH)
def test_short_structured_english_is_never_judged_not_english(text):
    assert uncovered_language(text) is None
    assert language_supported(text)
    assert check_language(0, 1, [{"role": "assistant", "content": text}], ValidateConfig()) == []


@pytest.mark.parametrize("text, expected", [
    (GREEK, "el"), (JAPANESE, "ja"), (FRENCH, "fr"), (SPANISH, "es"),
    ("Das ist ein schöner Tag und wir gehen heute in den Park spazieren.", "de")])
def test_short_sentences_of_other_languages_stay_flagged(text, expected):
    assert uncovered_language(text)[0] == expected
    assert not language_supported(text)


def test_the_demo_contact_card_gets_no_unsupported_language_finding():
    card = [{"role": "user", "content": "Format this as a neat contact card: aiko tanaka, "
             "aiko.tanaka@example.com, 555-0187, Osaka office"},
            {"role": "assistant", "content": STRUCTURED_ENGLISH[0]}]
    types = {r["entity_type"] for r in scan_messages([card])}
    assert "UNSUPPORTED_LANGUAGE" not in types and "EMAIL_ADDRESS" in types


def test_evidence_words_drop_addresses_numbers_labels_and_capitalised_words():
    assert evidence_words(STRUCTURED_ENGLISH[0]) == []
    assert evidence_words("name: juan de la cruz\nemail: juan@example.com\nphone: +34 912") == [
        "juan", "de", "la", "cruz"]
    assert evidence_words(FRENCH) == ["capitale", "de", "la", "est", "une", "très", "belle",
                                      "ville", "au", "bord"]


def test_langdetect_guess_needs_the_function_words_of_its_language():
    nouns = ["flour", "g", "sugar", "eggs", "butter", "vanilla", "extract", "tsp", "salt"]
    assert not confirmed(nouns, "sv", ("en",))  # langdetect: 'sv' at p=0.99999
    assert confirmed(evidence_words(FRENCH), "fr", ("en",))
    # two French function words against two English ones: not more, so not confirmed
    assert not confirmed(["de", "la", "the", "with", "ville"], "fr", ("en",))
