"""Rules that drop PERSON findings which cannot be what they claim.

Run as: ``from curation.pii_false_alarms import person_false_alarms`` (``curation.pii``'s
``postprocess`` calls it on every text's findings before thresholds and overlaps).

A PERSON span from a statistical tagger or a name list is dropped when
- no word of it can be a name: every word is an English function word (spaCy's stop words:
  "at", "on"), or every word is a month or weekday name next to a number or after a
  preposition ("Jan 9th 2012", "31 August 2000", "on Monday");
- a word has a digit ("GPT-4", "box 0671"); in text that is not all one case, a word has a
  shape no name has: capitals inside after a lower-case letter ("OpenAI"), a capitalised
  word joined by a hyphen to a lower-case one ("Appelle-moi", a verb with its pronoun), or,
  for spaCy's spans, no capital at all ("jog aiming"); in text all in one case, the span
  starts or ends with a function word ("my zip code");
- it names an organisation: the word before it is an organisation word ("club Avispa
  Fukuoka", "airline"), the word after it is one ("Virgin brand", "X FC"), or it shares a
  word that is no known given name or surname with an organisation of the same text
  ("Virgin Blue" beside "Virgin Australia Airlines Pty Ltd"; an "organisation" of spaCy's
  that starts with a given name is a person, ``relabel_person``, and no cue);
- spaCy read a given-name-list span as something else: a date ("31 August 2000"), or a
  place in a text that names other places ("Brisbane, Melbourne and Sydney").
The user's deny list is never dropped; the recognizers that read a name after "my name is"
or a lower-case full name from the name lists (``CASE_EXEMPT``) skip the shape rules.
"""

from __future__ import annotations

from dataclasses import dataclass

import regex
from spacy.lang.en.stop_words import STOP_WORDS

from curation.pii_recognizers import given_names, last_names, relabel_person, single_case

_WORD = regex.compile(r"[\p{L}\p{M}\d][\p{L}\p{M}\d'’.-]*")
_CALENDAR = frozenset(
    "jan january feb february mar march apr april may jun june jul july aug august sep sept "
    "september oct october nov november dec december mon monday tue tues tuesday wed "
    "wednesday thu thur thurs thursday fri friday sat saturday sun sunday".split())
_DATE_PREPOSITIONS = frozenset("on in by since until till before after from to during last "
                               "next every this of".split())
# Words that stand next to an organisation's name, not a person's: before it ("the club X",
# "the airline X") or after it ("X FC", "X Airlines", "the X brand").
ORG_BEFORE = frozenset("club team airline carrier company firm brand band label franchise "
                       "startup side squad outfit publisher studio network broadcaster "
                       "manufacturer retailer".split())
ORG_AFTER = frozenset("fc afc sc cf ac club team football airline airlines airways brand "
                      "group inc ltd llc corp plc api apis app platform company".split())
_NOT_A_NAME_SHAPE = regex.compile(r"\p{Ll}\p{Lu}\p{Lu}|^\p{Lu}\p{Ll}+-\p{Ll}")
# Recognizers that find names in lower case on purpose, and the user's own list.
CASE_EXEMPT = frozenset({"IntroducedNameRecognizer", "LowercaseNameRecognizer"})
NEVER_DROPPED_PREFIX = "deny_list_"


@dataclass(frozen=True)
class Entity:
    """A finding before thresholds: type, offsets and the recognizer that made it."""

    entity_type: str
    start: int
    end: int
    recognizer: str


def _words(text: str, start: int, end: int) -> list[str]:
    return [w.strip("'’.-") for w in _WORD.findall(text[start:end])]


def _word_before(text: str, start: int) -> str:
    words = _WORD.findall(text[max(0, start - 40):start])
    return words[-1].casefold().strip("'’.-") if words else ""


def _word_after(text: str, end: int) -> str:
    match = _WORD.match(text[end:end + 40].lstrip(" \t"))
    return match.group().casefold().strip("'’.-") if match else ""


def _no_name_word(text: str, span: Entity) -> bool:
    """Every word is a function word, or every word a month/weekday read as a date."""
    words = [w.casefold() for w in _words(text, span.start, span.end)]
    if not words or all(w in STOP_WORDS for w in words):
        return True
    if all(w in _CALENDAR for w in words):
        before, after = _word_before(text, span.start), _word_after(text, span.end)
        return (any(ch.isdigit() for ch in before + after)
                or before in _DATE_PREPOSITIONS)
    return False


def _bad_shape(text: str, span: Entity) -> bool:
    """A word no name looks like (see module doc). In text all in one case, where the
    capitals carry nothing, a span that starts or ends with a function word ("my zip
    code", read on the title-cased copy) instead."""
    words = _words(text, span.start, span.end)
    if any(ch.isdigit() for w in words for ch in w):
        return True
    if single_case(text):
        return bool(words) and (words[0].casefold() in STOP_WORDS
                                or words[-1].casefold() in STOP_WORDS)
    if span.recognizer in CASE_EXEMPT:
        return False
    if any(_NOT_A_NAME_SHAPE.search(w) for w in words):
        return True
    return span.recognizer == "SpacyRecognizer" and not any(w[:1].isupper() for w in words)


def _org_words(text: str, orgs: list[Entity]) -> set[str]:
    """Words of the organisations in ``text`` that are no known given name or surname."""
    given, last = given_names(), last_names()
    return {w.casefold() for o in orgs for w in _words(text, o.start, o.end)
            if w[:1].isupper() and w.casefold() not in given and w.casefold() not in last}


def _names_other_places(text: str, span: Entity, others: list[Entity]) -> bool:
    """spaCy found a place elsewhere in the text that is no known given name."""
    given = given_names()
    return any(o.recognizer == "SpacyRecognizer" and o.entity_type == "LOCATION"
               and (o.end <= span.start or o.start >= span.end)
               and not given & {w.casefold() for w in _words(text, o.start, o.end)}
               for o in others)


def _org_cue(text: str, span: Entity) -> bool:
    """An organisation word right before or right after the span."""
    return _word_before(text, span.start) in ORG_BEFORE or _word_after(text, span.end) in ORG_AFTER


def _read_as_something_else(text: str, span: Entity, others: list[Entity],
                            org_words: set[str]) -> bool:
    """A date spaCy found overlaps the span (which is not spaCy's own: "31 August" for the
    given name "August"), or a place when the text names other places ("Brisbane,
    Melbourne and Sydney"), or the span shares a word with an organisation of the text.
    spaCy's places alone and its organisations are no cue here: the small model calls
    many non-English names a place ("Zuzana") or an organisation ("Sunniva")."""
    if span.recognizer != "SpacyRecognizer":
        read_as = {o.entity_type for o in others if o.recognizer == "SpacyRecognizer"
                   and o.start < span.end and span.start < o.end}
        if "DATE_TIME" in read_as or ("LOCATION" in read_as and _names_other_places(
                text, span, others)):
            return True
    return any(w.casefold() in org_words for w in _words(text, span.start, span.end))


def person_false_alarms(text: str, entities: list[Entity]) -> set[Entity]:
    """The PERSON entities of ``text`` that the rules of this module drop.

    ``entities`` are every finding of the text before thresholds, of every type (the
    organisations, places and dates spaCy found are the context the rules read).
    """
    orgs = [e for e in entities if e.entity_type == "ORGANIZATION"
            and relabel_person(text, e.entity_type, e.start, e.end) == "ORGANIZATION"]
    people = [e for e in entities if e.entity_type == "PERSON"
              and not e.recognizer.startswith(NEVER_DROPPED_PREFIX)]
    dropped = {p for p in people if _no_name_word(text, p) or _bad_shape(text, p)}
    cued = {p for p in people if p not in dropped and _org_cue(text, p)}
    org_words = _org_words(text, orgs + sorted(cued, key=lambda e: (e.start, e.end)))
    return dropped | cued | {p for p in people if p not in dropped
                             and _read_as_something_else(text, p, entities, org_words)}
