"""Is a text in a language the PII model covers? One answer for validation and the PII scan.

Run as: ``from curation.language import uncovered_language; uncovered_language(text)``

Offline: langdetect (a port of Google's language-detection, 55 languages, profiles shipped
in its package) seeded for repeatable answers, and spaCy's per-language stop-word lists
(plain Python files in its package, read without importing spaCy). The script decides a
text in Greek, Cyrillic, Arabic, CJK...; a Latin-script text is judged by what is left once
the parts that carry no language are removed (``evidence_words``), and langdetect's guess
must be confirmed by that language's function words (``uncovered_language``).
"""

from __future__ import annotations

import functools
import importlib.util
import re
from pathlib import Path

# English function words that are not words of other Latin-script languages ("a", "in",
# "is" are left out). Measured here: >= 12% of the words in 97% of GSM8K rows, 96% of
# Dolly's first 25, 99% of FastChat's ShareGPT sample, and 0% in French, German, Italian,
# Spanish, Portuguese and Dutch test sentences; such rows skip langdetect.
ENGLISH_WORDS = frozenset(["the", "and", "of", "to", "it", "you", "that", "for", "with", "are",
                           "was", "this", "be", "what", "how", "they", "we", "have", "has",
                           "his", "her", "their", "not", "or", "if", "at", "by", "from",
                           "which", "will", "would", "can", "there"])
ENGLISH_SHARE = 0.12
MIN_LETTERS = 20  # fewer letters: no script or language can be told apart
MIN_LATIN_SHARE = 0.7  # fewer Latin letters: another script (Greek, Cyrillic, Arabic, CJK...)
MIN_LANGDETECT_LETTERS = 40  # a shorter Latin-script text is not sent to langdetect
# A Latin-script verdict of "not covered" needs this much evidence left after
# ``evidence_words``: langdetect gives 0.99999 "sv" to the English list "flour sugar eggs
# butter vanilla extract tsp", so its probability alone proves nothing on a few words.
MIN_EVIDENCE_WORDS = 5
MIN_FUNCTION_WORDS = 2  # distinct function words of the detected language, not of a covered one
# A language without a stop-word list in spaCy (Welsh, Somali, Swahili) cannot be confirmed
# by its function words: then this many evidence words and not one covered function word.
MIN_UNCONFIRMED_WORDS = 20
_LETTER = re.compile(r"[^\W\d_]")
_LATIN = re.compile(r"[A-Za-z\u00C0-\u024F]")
# Parts of a text that carry no language: addresses, links, anything with a digit, the
# "Key:" label opening a line of a card or a form, and list bullets.
_NO_LANGUAGE = re.compile(r"""
      \S+@\S+                                  # e-mail address
    | (?:https?://|ftp://|www\.)\S+            # URL
    | \S*\d\S*                                 # a token with a digit: number, phone, date, id
    | ^[ \t]*(?:[-*•>#]+[ \t]*)?[^\W\d_][^\n:]{0,30}:(?=[ \t]|$)  # "Key:" at a line start
    """, re.VERBOSE | re.MULTILINE)
_WORD = re.compile(r"[^\W\d_]+")
# langdetect's codes where spaCy's language folder has another name
_SPACY_CODE = {"no": "nb", "zh-cn": "zh", "zh-tw": "zh"}


@functools.cache
def _language_factory():
    """langdetect's profiles (shipped in its package; nothing is downloaded), seeded so the
    same text always gets the same answer."""
    from langdetect.detector_factory import PROFILES_DIRECTORY, DetectorFactory

    factory = DetectorFactory()
    factory.load_profile(PROFILES_DIRECTORY)
    factory.set_seed(0)
    return factory


def detect_language(text: str) -> tuple[str, float] | None:
    """(ISO 639-1 code, probability) of ``text`` by langdetect (a port of Google's
    language-detection, 55 languages); None when it cannot tell."""
    from langdetect.lang_detect_exception import LangDetectException

    detector = _language_factory().create()
    detector.append(text[:2000])
    try:
        best = detector.get_probabilities()[0]
    except (LangDetectException, IndexError):
        return None
    return best.lang, best.prob


def english_share(text: str) -> float:
    """Share of ``text``'s words that are common English function words.

    >>> english_share("The cat and the dog")
    0.6
    """
    words = re.findall(r"[a-z']+", text.lower())
    return sum(w in ENGLISH_WORDS for w in words) / max(1, len(words))


def evidence_words(text: str) -> list[str]:
    """The words of ``text`` that can tell a language, lower-cased, each once, in order.

    Removed first: e-mail addresses, URLs, tokens with a digit (numbers, phone numbers,
    dates), a "Key:" label opening a line, list bullets; then every capitalised word (names
    of people, places and firms are the same in every language, and a card or a list
    capitalises each entry).

    >>> evidence_words("Name: Aiko Tanaka\\nEmail: aiko@example.com\\nPhone: 555-0187")
    []
    >>> evidence_words("La capitale de la France est Paris.")
    ['capitale', 'de', 'la', 'est']
    """
    words = _WORD.findall(_NO_LANGUAGE.sub(" ", text))
    return list(dict.fromkeys(w.lower() for w in words if not w[0].isupper()))


@functools.cache
def stop_words(language: str) -> frozenset[str]:
    """spaCy's stop words (function words) of ``language`` (an ISO 639-1 code); empty when
    spaCy has no list for it. Read from ``spacy/lang/<code>/stop_words.py`` (a file that only
    defines ``STOP_WORDS``) without importing spaCy, which takes seconds."""
    spec = importlib.util.find_spec("spacy")
    code = _SPACY_CODE.get(language, language)
    path = Path(spec.origin).parent / "lang" / code / "stop_words.py" if spec else None
    if path is None or not re.fullmatch(r"[a-z]{2,3}", code) or not path.exists():
        return frozenset()
    loaded = importlib.util.spec_from_file_location(f"_stop_words_{code}", path)
    module = importlib.util.module_from_spec(loaded)
    loaded.loader.exec_module(module)
    return frozenset(getattr(module, "STOP_WORDS", ()))


def confirmed(words: list[str], language: str, covered: tuple[str, ...]) -> bool:
    """Do ``words`` (``evidence_words``) carry the function words of ``language`` rather than
    those of the ``covered`` languages?

    True when at least ``MIN_FUNCTION_WORDS`` distinct words are function words of
    ``language`` but of no covered language, and more than those of a covered language but
    not of ``language``. For a language without a stop-word list: at least
    ``MIN_UNCONFIRMED_WORDS`` words and no covered function word.

    >>> confirmed(["capitale", "de", "la", "est", "une"], "fr", ("en",))
    True
    >>> confirmed(["flour", "sugar", "eggs", "butter", "vanilla"], "sv", ("en",))
    False
    """
    ours = frozenset().union(*(stop_words(c) for c in covered))
    theirs = stop_words(language)
    if not theirs:
        return len(words) >= MIN_UNCONFIRMED_WORDS and not ours & set(words)
    foreign = sum(w in theirs and w not in ours for w in words)
    native = sum(w in ours and w not in theirs for w in words)
    return foreign >= MIN_FUNCTION_WORDS and foreign > native


def _once(text: str) -> str:
    """``text`` with each whitespace-separated word kept at its first occurrence only (a word
    repeated 2,000 times is one word); line breaks are kept for the "Key:" labels."""
    seen: dict[str, None] = {}
    lines = []
    for line in text.splitlines():
        kept = [w for w in dict.fromkeys(line.split()) if w not in seen]
        seen.update(dict.fromkeys(kept))
        lines.append(" ".join(kept))
    return "\n".join(lines)


def uncovered_language(text: str, languages: tuple[str, ...] = ("en",),
                       min_chars: int = MIN_LANGDETECT_LETTERS) -> tuple[str, float] | None:
    """(language code, probability) when ``text`` is probably in none of ``languages``
    (ISO 639-1); None when it is covered or too short to tell.

    Steps, cheapest first: words repeated are counted once; under ``MIN_LETTERS`` (20)
    letters: None; plainly English (``english_share`` >= 0.12) with "en" covered: None.
    Another script (under 70 % Latin letters, after e-mails, URLs and numbers are removed):
    langdetect's answer, and ``("und", 1.0)`` (undetermined, ISO 639-2) when it cannot
    place the text, so it never passes silently. A Latin-script text: None under
    ``min_chars`` letters or under ``MIN_EVIDENCE_WORDS`` (5) ``evidence_words``; else
    langdetect's answer on those words, kept only when ``confirmed`` by the function words
    of the language it names. So a contact card, a list of names or a recipe's ingredients
    (names, e-mails, numbers, "Key: value" lines, nouns) is never judged not covered.
    """
    text = _once(text)
    letters = _LETTER.findall(text)
    if len(letters) < MIN_LETTERS:
        return None
    if "en" in languages and english_share(text) >= ENGLISH_SHARE:
        return None
    letters = _LETTER.findall(_NO_LANGUAGE.sub(" ", text))
    latin = sum(bool(_LATIN.match(c)) for c in letters) >= MIN_LATIN_SHARE * len(letters)
    if not latin:
        found = detect_language(text)
        if found is None:
            return ("und", 1.0)
        return None if found[0] in languages else found
    words = evidence_words(text)
    if len(letters) < min_chars or len(words) < MIN_EVIDENCE_WORDS:
        return None
    found = detect_language(" ".join(words))
    if found is None or found[0] in languages or not confirmed(words, found[0], languages):
        return None
    return found
