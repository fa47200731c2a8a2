"""Extra Presidio recognizers for what the defaults miss: street addresses, phone numbers
after a label, and names after a phrase that introduces one (in any letter case).

Run as: ``from curation.pii_recognizers import extra_recognizers`` (``curation.pii`` adds them).

Rules were written from presidio-research's synth_dataset_v2 records with an even
``template_id`` only (bench/pii_eval.py scores them on the odd ones) and from common postal
formats (US "<number> <name> St", European "<name>straße 12", "Via/Rue/ul. <name> 12",
"P.O. Box 12", "Apt./Suite 12" lines, then city / region / country + postcode lines).
Matching uses the ``regex`` module (Unicode classes such as ``\\p{Lu}``); no NLP needed.
"""

from __future__ import annotations

import functools
import importlib

import regex
from presidio_analyzer import EntityRecognizer, RecognizerResult

# -- street addresses ---------------------------------------------------------------------
_CAP = r"(?:\p{Lu}[\p{L}\p{M}'’.-]*)"  # a capitalised word (also UPPER CASE)
_PARTICLE = (r"(?:(?:de|del|della|delle|di|da|do|dos|das|du|la|le|les|des|van|von|der|den|"
             r"e|y|i|am|an|im|of|the|and|út|útja|utca|u\.|tee|tie|vej|gade|katu)\b|"
             r"[dlDL]['’]\p{L}+)")
_NAMEWORD = rf"(?:{_CAP}|{_PARTICLE}|\d{{1,4}}(?:st|nd|rd|th)?\b)"
_NUM = r"(?:\d{1,6}[A-Za-z]?(?:[/-]\d{1,4})?)"
_SUFFIX = (r"(?:St|Str|Street|Streets|Ave|Avenue|Rd|Road|Blvd|Boulevard|Lane|Ln|Dr|Drive|Ct|"
           r"Pkwy|Parkway|Hwy|Highway|Cres|Crescent|Terrace|Ter|Alley)")
# Words that end street names but also other names ("European Union", "Hyde Park"): only
# with a house number in front.
_WEAK_SUFFIX = (r"(?:Way|Court|Pl|Place|Sq|Square|Close|Row|Park|Parks|Union|Trail|Cir|"
                r"Circle|Plaza|Gardens|Grove|Hill|Heights|Mews|Walk|Wharf|Quay|Green|Loop|"
                r"Pike|Path|Run|Crossing|Crossroad|Route|Rte|Estate|Ridge|View|Vale|Manor|"
                r"Meadows?|Station|Summit|Valley|Villages?|Ville|Burg|Causeway|Circus|"
                r"Esplanade|Embankment|Rapids|Islands?|Cliffs?|Creek|Springs?|Lakes?|Fields?|"
                r"Forges?|Ports?|Points?|Shores?|Squares|Stravenue|Throughway|Tunnel)")
_PREFIX = (r"(?:Rue|Via|Viale|Vicolo|Corso|Piazza|Piazzale|Largo|Strada|Rua|Avenida|Av\.|"
           r"Calle|Carrer|Camino|Paseo|Plaza|Praça|Travessa|Estrada|Alameda|Rambla|"
           r"Boulevard|Avenue|Chemin|Allée|Place|Impasse|Quai|Route|ul\.|ulica|al\.|"
           r"aleja|pl\.|trg|Trg|utca|út|Odos|Leoforos|Οδός|Λεωφόρος|Πλατεία|Straße|Strasse)")
_COMPOUND = (r"(?:\p{L}{3,}(?:straße|strasse|str\.|gasse|weg|allee|platz|damm|ufer|"
             r"vej|vegen|veien|gata|gatan|gade|väg|vägen|katu|tie|kuja|polku|straat|laan|"
             r"plein|gracht|kade|singel|utca|útja|út|ulica|cesta|ulice|iela|gatve|tänav|"
             r"sokak|caddesi))")
_UNIT = r"(?:(?:Apt|Apartment|Suite|Ste|Unit|Flat|Floor|Fl|Room|Rm|Bldg|Building)\.?\s*\#?\s*\w{1,6})"
_BOX = r"(?:(?:P\.?\s?O\.?\s*)?Box\s+\d{1,6}|Postbox\s+\d{1,6}|Unit\s+\d{1,6}\s+Box\s+\d{1,6}|PSC\s+\d{1,6},?\s+Box\s+\d{1,6})"
_MONTH = (r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec|January|February|March|"
          r"April|June|July|August|September|October|November|December|Mon|Tue|Wed|Thu|Fri|"
          r"Sat|Sun|Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)\b\.?")
# "<number> <name> <number>" with no street word ("6750 Koskikatu 25"): an address only when
# a unit or a place line follows ("2012 Provincial Under 21" is a tournament).
_NUMBERED_NAME = rf"{_NUM}[ \t]+(?!{_MONTH}){_CAP}(?:[ \t]+{_NAMEWORD}){{0,3}}[ \t]+{_NUM}\b\.?"
_NUMBERED_NAME_RE = regex.compile(_NUMBERED_NAME)
_STREET = rf"""(?:
    (?:{_NUM}[ \t]+){{0,2}}(?:{_NAMEWORD}[ \t]+){{1,4}}{_SUFFIX}\b\.?(?:[ \t]+{_NUM}\b)?
  | (?:{_NUM}[ \t]+){{1,2}}(?:{_NAMEWORD}[ \t]+){{1,4}}{_WEAK_SUFFIX}\b\.?(?:[ \t]+{_NUM}\b)?
  | (?:USNS|USNV|USS|USCGC)[ \t]+{_CAP}
  | (?:{_NUM}[ \t]+){{0,2}}{_PREFIX}(?:[ \t]+{_NAMEWORD}){{1,5}}(?:[ \t]+{_NUM}\b)?
  | (?:{_NUM}[ \t]+){{1,2}}{_COMPOUND}\b\.?(?:[ \t]+{_NUM}\b)?
  | {_COMPOUND}\b\.?[ \t]+{_NUM}\b
  | (?:{_NUM}[ \t]+)?{_BOX}
  | {_NUMBERED_NAME}
  | (?:[Tt]he[ \t]+corner[ \t]+of[ \t]+)[^\n,]{{3,40}}?[ \t]+and[ \t]+(?:{_NAMEWORD}[ \t]+){{0,3}}{_NAMEWORD}
)"""
# After the street line: unit lines, then short lines/segments of capitalised words, codes
# and postcodes (city, region, country + postcode), joined by a comma or a newline (with
# the quoting marks e-mails and chats put in front of lines).
_SEP = r"(?:[ \t]*,[ \t]*|[ \t]*\n[ \t]*(?:>|\?\?\?|[-*•])?[ \t]*|[ \t]+)"
_PLACE_SEP = (r"(?:[ \t]*,[ \t]*|[ \t]*\n[ \t]*(?:>|\?\?\?)?[ \t]*,?[ \t]*"
              r"|[ \t]+(?=\p{Lu}|\d{2}))")  # same line: a capitalised word or a postcode
_PLACE = (rf"(?:(?:{_CAP}|\([\p{{L}} ]+\)|{_PARTICLE}|nan|\d{{2,6}}(?:[ -]\d{{2,4}})?|"
          rf"\p{{Lu}}\d\p{{Lu}}[ ]?\d\p{{Lu}}\d)(?:[ \t]+(?:{_CAP}|\([\p{{L}} ]+\)|{_PARTICLE}|"
          rf"\d{{2,6}}(?:[ -]\d{{2,4}})?|\p{{Lu}}\d\p{{Lu}}[ ]?\d\p{{Lu}}\d|N|S|E|W)){{0,4}})")
ADDRESS_RE = regex.compile(
    rf"(?<![\w@/.])(?P<street>{_STREET}(?:{_SEP}{_UNIT})*)"
    rf"(?:{_PLACE_SEP}(?P<place>{_PLACE})(?![\p{{L}}:@]))*",
    regex.VERBOSE,
)
_POSTCODE = regex.compile(r"[ \t]+(\d{3,6}(?:[ -]\d{2,4})?)\b")
_LABEL_WORDS = regex.compile(r"^(?:Phone|Mobile|Desk|Fax|E-?mail|Website|Name|Date|When|"
                             r"Where|Address|Tel)\b", regex.I)


class StreetAddressRecognizer(EntityRecognizer):
    """STREET_ADDRESS: a street line (number + name + suffix, prefix + name, "<name>straße"
    next to a house number, P.O. box; "<number> <name> <number>" only with a unit or place
    line after it), then unit and city/region/country/postcode lines. Score 0.7 (above Presidio's
    0.4-0.5 weak patterns, below checksum-validated 1.0)."""

    SCORE = 0.7

    def __init__(self, supported_language: str = "en", split_places: bool = False):
        super().__init__(supported_entities=["STREET_ADDRESS", "LOCATION"],
                         name="StreetAddressRecognizer", supported_language=supported_language)
        self.split_places = split_places

    def load(self) -> None:
        pass

    def analyze(self, text: str, entities: list[str], nlp_artifacts=None) -> list:
        """Results per address block of ``text`` (character offsets, end exclusive).

        With ``split_places`` and LOCATION among ``entities``, the street part (street line + unit lines) is
        STREET_ADDRESS and each following city/region/country segment is a LOCATION; else
        the whole block is one STREET_ADDRESS.
        """
        results = []
        split = self.split_places and "LOCATION" in entities
        for match in ADDRESS_RE.finditer(text):
            start, _ = match.span()
            end = start + len(_trim_tail(match.group()))
            for p_start, _p_end in match.spans("place"):
                country = COUNTRY_RE.match(text, p_start)
                if "\n" in text[start:p_start] and country:
                    end = start + len(_trim_tail(text[start:p_start]))  # country: LOCATION
                    code = _POSTCODE.match(text, country.end())
                    if code:  # "Belgium 95287": the postcode stays part of the address
                        results.append(RecognizerResult("STREET_ADDRESS", code.start(1),
                                                        code.end(1), self.SCORE))
                    break
            if _LABEL_WORDS.match(text[start:end]) or not regex.search(r"\p{L}", text[start:end]):
                continue
            if _NUMBERED_NAME_RE.fullmatch(match.group("street")) and not match.captures("place"):
                continue
            if split:
                s_end = match.start("street") + len(_trim_tail(match.group("street")))
                results.append(RecognizerResult("STREET_ADDRESS", start, s_end, self.SCORE))
                for p_start, p_end in match.spans("place"):
                    p_end = p_start + len(_trim_tail(text[p_start:p_end]))
                    if p_end > p_start and text[p_start:p_end] != "nan":
                        results.append(RecognizerResult("LOCATION", p_start, p_end, self.SCORE))
            elif end - start >= 4:
                results.append(RecognizerResult("STREET_ADDRESS", start, end, self.SCORE))
        return [r for r in results if r.entity_type in entities]


def _trim_tail(value: str) -> str:
    """``value`` without trailing separators; a final "." kept after St/Ave/Rd/Dr/Blvd/Ln."""
    trimmed = value.rstrip(" \t\n,.>?")
    if value.rstrip(" \t\n,>?").endswith(".") and regex.search(r"\b(?:St|Ave|Rd|Dr|Blvd|Ln)$",
                                                                trimmed):
        return trimmed + "."
    return trimmed


# -- phone numbers after a label ----------------------------------------------------------
PHONE_RE = regex.compile(
    r"(?:(?<=\b(?:phone|mobile|cell|desk|fax|tel|telephone|call me at|answering at|"
    r"messages to|reach me at|text me at|number is)\s*[:.]?\s*)"
    r"(\+?\(?\d[\d ()\-./]{4,20}\d)"
    r"|(?<![\w+])(\+\d{1,3}[ \-.]?\(?\d{1,4}\)?(?:[ \-.]?\d{2,4}){2,4})(?!\w))",
    regex.I,
)


class LabelledPhoneRecognizer(EntityRecognizer):
    """PHONE_NUMBER: digits after a phone label ("Phone:", "Mobile:", "Fax:", "call me at")
    in any national format, and any "+<country code>" number. Score 0.6: above Presidio's
    phonenumbers hit without context (0.4), which often misses non-US formats."""

    SCORE = 0.6

    def __init__(self, supported_language: str = "en"):
        super().__init__(supported_entities=["PHONE_NUMBER"], name="LabelledPhoneRecognizer",
                         supported_language=supported_language)

    def load(self) -> None:
        pass

    def analyze(self, text: str, entities: list[str], nlp_artifacts=None) -> list:
        """One result per phone number of ``text``; needs 7 to 15 digits."""
        results = []
        for match in PHONE_RE.finditer(text):
            group = 1 if match.group(1) else 2
            value = match.group(group).rstrip(" -./")
            digits = sum(ch.isdigit() for ch in value)
            if 7 <= digits <= 15 and value.count("(") == value.count(")"):
                start = match.start(group)
                results.append(RecognizerResult("PHONE_NUMBER", start, start + len(value),
                                                self.SCORE))
        return results


# -- names introduced by a phrase ---------------------------------------------------------
_NAME_WORD = r"\p{L}[\p{L}\p{M}'’-]*"
NAME_RE = regex.compile(
    rf"(?<=\b(?:my name is|name is|i am called|call me|calls me|named (?:him|her|it)?|"
    rf"change it to|name:|signed,|regards,|sincerely,)[ \t]*\n?[ \t]*)"
    rf"\b({_NAME_WORD}(?:[ \t]+(?:\p{{Lu}}\.|{_NAME_WORD})){{0,2}})",
    regex.I,
)
_NOT_NAME = frozenset(
    ["a", "an", "the", "and", "but", "or", "so", "to", "me", "my", "is", "it", "this", "that",
     "what", "who", "please", "not", "yes", "no", "mr", "mrs", "ms", "dr", "miss", "sir",
     "madam", "here", "there", "just"])


@functools.lru_cache(maxsize=1)
def _stop_words() -> frozenset[str]:
    from spacy.lang.en.stop_words import STOP_WORDS

    return frozenset(STOP_WORDS)


class IntroducedNameRecognizer(EntityRecognizer):
    """PERSON: one to three words after "my name is", "calls me", "Name:" and the like, in
    any letter case (spaCy's small model misses lower-case and many non-English names).
    The name starts at a word boundary ("call Meta" is no "call me"), and stops before a
    function word ("but", "and", "at": ``_NOT_NAME`` and spaCy's English stop words).
    Score 0.85, as spaCy's PERSON."""

    SCORE = 0.85

    def __init__(self, supported_language: str = "en"):
        super().__init__(supported_entities=["PERSON"], name="IntroducedNameRecognizer",
                         supported_language=supported_language)

    def load(self) -> None:
        pass

    def analyze(self, text: str, entities: list[str], nlp_artifacts=None) -> list:
        """One result per introduced name of ``text``."""
        results = []
        for match in NAME_RE.finditer(text):
            words = []
            for word in regex.finditer(r"\S+", match.group(1)):
                if word.group().lower().strip("'’") in _NOT_NAME | _stop_words():
                    break
                words.append(word)
            if words:
                start, end = match.start(1) + words[0].start(), match.start(1) + words[-1].end()
                results.append(RecognizerResult("PERSON", start, end, self.SCORE))
        return results


# -- numbers named by their label --------------------------------------------------------
def _luhn_ok(digits: str) -> bool:
    """The Luhn checksum (ISO/IEC 7812-1) of a digit string."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


CARD_RE = regex.compile(r"(?<=\b(?:card|cc|credit card|debit card|card number|card no\.?)"
                        r"[ \t]*(?:#|:|number|no\.?|is)?[ \t]*)(\d(?:[ -]?\d){11,18})\b", regex.I)
LICENSE_RE = regex.compile(r"(?<=\bdriver['’]?s?[ \t]+licen[cs]e[ \t]*(?:number|no\.?|#)?[ \t]*"
                           r"(?:is|:)?[ \t]*)([A-Z0-9][A-Z0-9-]{4,18}[A-Z0-9])\b", regex.I)


class LabelledNumberRecognizer(EntityRecognizer):
    """CREDIT_CARD (12-19 digits with a valid Luhn checksum after "card", "cc", "card
    number") and US_DRIVER_LICENSE (5-20 letters/digits after "driver's license (number)").
    Presidio's card recognizer only knows Visa/MC/Amex/Discover/Diners prefixes (it misses
    JCB 15-digit "2131..." and 12-19 digit Maestro numbers); its licence pattern is scored
    too low to beat a phone number. Score 0.9 for both."""

    SCORE = 0.9

    def __init__(self, supported_language: str = "en"):
        super().__init__(supported_entities=["CREDIT_CARD", "US_DRIVER_LICENSE"],
                         name="LabelledNumberRecognizer", supported_language=supported_language)

    def load(self) -> None:
        pass

    def analyze(self, text: str, entities: list[str], nlp_artifacts=None) -> list:
        """Card and licence numbers of ``text`` that follow their label."""
        results = []
        for match in CARD_RE.finditer(text):
            if _luhn_ok(regex.sub(r"\D", "", match.group(1))):
                results.append(RecognizerResult("CREDIT_CARD", *match.span(1), self.SCORE))
        for match in LICENSE_RE.finditer(text):
            if any(ch.isdigit() for ch in match.group(1)):
                results.append(RecognizerResult("US_DRIVER_LICENSE", *match.span(1), self.SCORE))
        return [r for r in results if r.entity_type in entities]


# -- country names ------------------------------------------------------------------------
def _country_re() -> regex.Pattern:
    from faker.providers.address.en import Provider

    names = sorted({n.split(" (")[0] for n in Provider.countries} | {"USA", "UK", "Czechia"},
                   key=len, reverse=True)
    return regex.compile(r"(?<![\p{L}])(?:" + "|".join(regex.escape(n) for n in names)
                         + r")(?![\p{L}])")


COUNTRY_RE = _country_re()


class CountryRecognizer(EntityRecognizer):
    """LOCATION: the English names of the 245 countries and territories in Faker's list
    (case-sensitive, whole words). spaCy's small model misses a country after a newline or
    next to a postcode. Score 0.6, so a street address around it (0.7) keeps the whole block."""

    SCORE = 0.6

    def __init__(self, supported_language: str = "en"):
        super().__init__(supported_entities=["LOCATION"], name="CountryRecognizer",
                         supported_language=supported_language)

    def load(self) -> None:
        pass

    def analyze(self, text: str, entities: list[str], nlp_artifacts=None) -> list:
        """One result per country name in ``text``."""
        return [RecognizerResult("LOCATION", *m.span(), self.SCORE)
                for m in COUNTRY_RE.finditer(text)]


# -- given names --------------------------------------------------------------------------
NAME_LOCALES = ["en_US", "en_GB", "de_DE", "fr_FR", "es_ES", "it_IT", "pl_PL", "cs_CZ",
                "hu_HU", "fi_FI", "sv_SE", "da_DK", "nl_NL", "pt_BR", "pt_PT", "hr_HR", "sl_SI",
                "no_NO", "is_IS", "et_EE", "el_GR", "ru_RU"]
_ORG_WORDS = regex.compile(r"\b(?:Inc|Ltd|LLC|Corp|Co|Company|Group|Orchestra|Bank|University|"
                           r"Association|Associates|Foundation|Institute|Band|Club|Records|"
                           r"Agency|Partners|Holdings|Systems|Solutions|Services|Labs?)\b|,|&|"
                           r"\band\b")


@functools.lru_cache(maxsize=1)
def given_names() -> frozenset[str]:
    """Casefolded first names of Faker's person providers for ``NAME_LOCALES`` (~10k), less
    English stop words (spaCy's list: "My", "May", "Will" are names somewhere)."""
    from spacy.lang.en.stop_words import STOP_WORDS

    names: set[str] = set()
    for locale in NAME_LOCALES:
        provider = importlib.import_module(f"faker.providers.person.{locale}").Provider
        for attr in ("first_names", "first_names_male", "first_names_female"):
            value = getattr(provider, attr, None) or ()
            names.update(n.casefold() for n in (value.keys() if isinstance(value, dict)
                                                else value))
    return frozenset(names - {w.casefold() for w in STOP_WORDS})


_CAP_WORD = r"\p{Lu}[\p{Ll}\p{M}'’-]+"
GIVEN_NAME_RE = regex.compile(rf"(?<![\p{{L}}@.])({_CAP_WORD})((?:[ \t]+(?:\p{{Lu}}\.?|{_CAP_WORD})"
                              rf"){{0,2}})(?![\p{{L}}@])")


class GivenNameRecognizer(EntityRecognizer):
    """PERSON: a capitalised given name from Faker's name lists (22 locales), with up to two
    following capitalised words or initials ("Ubul Csonka", "Brad L Key"). spaCy's small
    model tags many non-English names as ORG or nothing. Score 0.6 (below spaCy's 0.85)."""

    SCORE = 0.6

    def __init__(self, supported_language: str = "en"):
        super().__init__(supported_entities=["PERSON"], name="GivenNameRecognizer",
                         supported_language=supported_language)

    def load(self) -> None:
        pass

    def analyze(self, text: str, entities: list[str], nlp_artifacts=None) -> list:
        """One result per given name (with its surname) in ``text``."""
        names = given_names()
        results = []
        for match in GIVEN_NAME_RE.finditer(text):
            if match.group(1).casefold() in names and not _ORG_WORDS.search(match.group()):
                results.append(RecognizerResult("PERSON", match.start(), match.end(),
                                                self.SCORE))
        return results


@functools.lru_cache(maxsize=1)
def last_names() -> frozenset[str]:
    """Casefolded surnames of Faker's person providers for ``NAME_LOCALES``, less English
    stop words."""
    from spacy.lang.en.stop_words import STOP_WORDS

    names: set[str] = set()
    for locale in NAME_LOCALES:
        provider = importlib.import_module(f"faker.providers.person.{locale}").Provider
        for attr in ("last_names", "last_names_male", "last_names_female"):
            value = getattr(provider, attr, None) or ()
            names.update(n.casefold() for n in (value.keys() if isinstance(value, dict)
                                                else value))
    return frozenset(names - {w.casefold() for w in STOP_WORDS})


_LOWER_WORD = r"\p{Ll}[\p{Ll}\p{M}'’-]+"
LOWER_NAME_RE = regex.compile(rf"(?<![\p{{L}}@.])({_LOWER_WORD})((?:[ \t]+\p{{Ll}}\.?)?)"
                              rf"[ \t]+({_LOWER_WORD})(?![\p{{L}}@])")


class LowercaseNameRecognizer(EntityRecognizer):
    """PERSON: a full name typed in lower case ("naomi ryan", "benjamin a seiler"): a given
    name and a surname, both from Faker's lists (22 locales, English stop words removed),
    with an optional middle initial. spaCy's small model finds almost no lower-case names.
    Score 0.6 (below spaCy's 0.85)."""

    SCORE = 0.6

    def __init__(self, supported_language: str = "en"):
        super().__init__(supported_entities=["PERSON"], name="LowercaseNameRecognizer",
                         supported_language=supported_language)

    def load(self) -> None:
        pass

    def analyze(self, text: str, entities: list[str], nlp_artifacts=None) -> list:
        """One result per lower-case given name + surname in ``text``."""
        given, last = given_names(), last_names()
        return [RecognizerResult("PERSON", m.start(), m.end(), self.SCORE)
                for m in LOWER_NAME_RE.finditer(text, overlapped=True)
                if m.group(1) in given and m.group(3) in last]


def single_case(text: str) -> bool:
    """True when every cased letter of ``text`` is upper case, or every one is lower case
    (and there is at least one): such text carries no capitalisation to read names from."""
    return text.isupper() or text.islower()


def relabel_person(text: str, entity_type: str, start: int, end: int) -> str:
    """PERSON for an ORGANIZATION or LOCATION span of spaCy's that is 1-3 capitalised words
    (any words, in a ``single_case`` text) starting with a known given name and has no
    company word; else ``entity_type``."""
    value = text[start:end]
    words = value.split()
    if (entity_type in ("ORGANIZATION", "LOCATION") and 1 <= len(words) <= 3
            and words[0].casefold() in given_names() and not _ORG_WORDS.search(value)
            and (single_case(text) or all(w[:1].isupper() for w in words))):
        return "PERSON"
    return entity_type


# -- companies ----------------------------------------------------------------------------
COMPANY_RE = regex.compile(
    r"(?<![\p{L}])((?:\p{Lu}[\p{L}&'’.-]*[ \t]+){1,3}(?:Inc|LLC|Ltd|Limited|GmbH|AG|SA|"
    r"S\.A\.|BV|B\.V\.|plc|PLC|Corp|Corporation|Company|Co|Group|Holdings|Technologies|"
    r"Technology|Partners|Associates|Solutions|Systems|Services|Movers|Consulting|"
    r"Industries|Enterprises|Labs|Software|Analytics|Bank|Insurance)\b\.?)")


class CompanyRecognizer(EntityRecognizer):
    """ORGANIZATION: one to three capitalised words ending in a company word ("Inc", "GmbH",
    "Technologies", "Partners", "Group" ...). Score 0.85, as spaCy's ORG."""

    SCORE = 0.85

    def __init__(self, supported_language: str = "en"):
        super().__init__(supported_entities=["ORGANIZATION"], name="CompanyRecognizer",
                         supported_language=supported_language)

    def load(self) -> None:
        pass

    def analyze(self, text: str, entities: list[str], nlp_artifacts=None) -> list:
        """One result per company name in ``text``."""
        return [RecognizerResult("ORGANIZATION", *m.span(1), self.SCORE)
                for m in COMPANY_RE.finditer(text)]


_SURNAME = r"\p{L}[\p{Ll}\p{M}'’]+"
FIRM_RE = regex.compile(
    rf"(?<![\p{{L}}@.-])({_SURNAME}),[ \t]+({_SURNAME})[ \t]+(?:and|&)[ \t]+({_SURNAME})"
    rf"(?![\p{{L}}@-])"
    rf"|(?<!\p{{Lu}}\p{{L}}*[ \t]+|[\p{{L}}@.-])({_SURNAME})-({_SURNAME})(?![\p{{L}}@-])")


class FirmNameRecognizer(EntityRecognizer):
    """ORGANIZATION: firm names made of surnames, as partnerships and law firms are named:
    "Davis, Reynolds and Williamson" (three surnames, any case) and "Weeks-Rivas" (two,
    hyphenated, not right after a capitalised word, so a person's double-barrelled surname
    after a given name stays PERSON). Every part must be a surname from Faker's lists (whose
    company formats are exactly these). Score 0.85, as spaCy's ORG; longer than the PERSON
    spans inside, so it wins the overlap."""

    SCORE = 0.85

    def __init__(self, supported_language: str = "en"):
        super().__init__(supported_entities=["ORGANIZATION"], name="FirmNameRecognizer",
                         supported_language=supported_language)

    def load(self) -> None:
        pass

    def analyze(self, text: str, entities: list[str], nlp_artifacts=None) -> list:
        """One result per surname firm name in ``text``."""
        last = last_names()
        results = []
        for m in FIRM_RE.finditer(text):
            parts = [g for g in m.groups() if g]
            if all(p.casefold() in last for p in parts):
                results.append(RecognizerResult("ORGANIZATION", m.start(), m.end(), self.SCORE))
        return results


def extra_recognizers(language: str = "en") -> list[EntityRecognizer]:
    """Our recognizers, to add to Presidio's predefined ones."""
    return [StreetAddressRecognizer(language), LabelledPhoneRecognizer(language),
            IntroducedNameRecognizer(language), LabelledNumberRecognizer(language),
            CountryRecognizer(language), GivenNameRecognizer(language),
            CompanyRecognizer(language), LowercaseNameRecognizer(language),
            FirmNameRecognizer(language)]
