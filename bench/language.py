"""Language check benchmark: "not English" verdicts on English rows, today's rule vs the baseline.

Run as: python bench/language.py [--quick] [--data ../shared/data]

Data: the English rows of the shared data folder: GSM8K (alpaca_gsm8k_train.json, 7,473
rows; --quick: the first 1,000), Dolly's first 25, FastChat's ShareGPT sample (500) and
the OpenAssistant trees (oasst_en_100_tree.jsonl: the flattened rows whose root is "en", and
every message of the trees marked "en"); and the workbench's own demo data
(workbench/demo_data/demo_chat.jsonl, 63 readable rows, with a contact card). Every verdict
here is a false positive: these rows are English.

Two units, as the workbench uses them: a *row* is what validation's ``unsupported_language``
judges (user and assistant turns joined, ``curation.validate.check_language``); a *message*
is what the PII scan's ``UNSUPPORTED_LANGUAGE`` finding judges (each message's content,
``curation.pii.language_supported``). Both go through ``curation.language.uncovered_language``.
Baseline: the rule it replaced (``baseline_uncovered``, kept below): the same shortcuts,
then langdetect's answer on the whole text for any Latin-script text of 40 letters or more.
Also run: short non-English texts of the tests, which both rules must flag.

Progress goes to stderr; the last stdout line is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from curation import language  # noqa: E402
from curation.formats import read_file  # noqa: E402

NON_ENGLISH = {
    "el": "Η Μαρία ζει στην Αθήνα και δουλεύει σε τράπεζα.",
    "ja": "田中さんは毎朝七時に起きて、駅まで歩いて会社に行きます。",
    "fr": "La capitale de la France est Paris, une très belle ville au bord de la Seine.",
    "de": "Das ist ein schöner Tag und wir gehen heute in den Park spazieren.",
    "es": "Mañana vamos a la playa con mis hermanos y después comemos en casa de la abuela.",
}


def baseline_uncovered(text: str, languages: tuple[str, ...] = ("en",),
                       min_chars: int = 40) -> tuple[str, float] | None:
    """The language rule before evidence words and function-word confirmation."""
    text = " ".join(dict.fromkeys(text.split()))
    letters = language._LETTER.findall(text)
    if len(letters) < language.MIN_LETTERS:
        return None
    if "en" in languages and language.english_share(text) >= language.ENGLISH_SHARE:
        return None
    latin = sum(bool(language._LATIN.match(c)) for c in letters) >= 0.7 * len(letters)
    if latin and len(letters) < min_chars:
        return None
    found = language.detect_language(text)
    if found is None:
        return None if latin else ("und", 1.0)
    return None if found[0] in languages else found


RULES = {"baseline": baseline_uncovered, "ours": language.uncovered_language}


def row_text(messages: list[dict]) -> str:
    """The text validation judges: user and assistant turns joined."""
    return "\n".join(m.get("content") or "" for m in messages
                     if m["role"] in ("user", "assistant"))


def oasst_messages(path: Path) -> list[str]:
    """Every message text of the trees, where the message is marked "en"."""
    out: list[str] = []

    def walk(node: dict) -> None:
        if node.get("lang", "en") == "en" and isinstance(node.get("text"), str):
            out.append(node["text"])
        for reply in node.get("replies") or []:
            walk(reply)

    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            walk(json.loads(line)["prompt"])
    return out


DEMO = Path(__file__).resolve().parents[1] / "workbench" / "demo_data" / "demo_chat.jsonl"


def load(data: Path, quick: bool) -> dict[str, dict[str, list[str]]]:
    """{dataset: {"rows": [row text], "messages": [message text]}} of the English rows."""
    sets = {}
    for name, path in (("gsm8k", data / "alpaca_gsm8k_train.json"),
                       ("dolly", data / "dolly15k_first25.jsonl"),
                       ("fastchat", data / "sharegpt_fastchat_dummy_conversation.json"),
                       ("oasst", data / "oasst_en_100_tree.jsonl"), ("demo", DEMO)):
        examples = [e for e in read_file(path).examples
                    if e.meta.get("lang", "en") == "en"]
        if quick and name == "gsm8k":
            examples = examples[:1000]
        messages = ([m.get("content") or "" for e in examples for m in e.messages]
                    if name != "oasst" else oasst_messages(path))
        sets[name] = {"rows": [row_text(e.messages) for e in examples], "messages": messages}
    return sets


def measure(texts: list[str], rule) -> dict:
    """Verdicts of ``rule`` on ``texts``: count, rate, languages named, seconds, examples."""
    start = time.perf_counter()
    found = [(t, rule(t)) for t in texts]
    seconds = time.perf_counter() - start
    flagged = [(t, f) for t, f in found if f]
    langs: dict[str, int] = {}
    for _, f in flagged:
        langs[f[0]] = langs.get(f[0], 0) + 1
    return {"n": len(texts), "not_english": len(flagged),
            "rate": round(len(flagged) / max(1, len(texts)), 5), "languages": langs,
            "ms_per_text": round(1000 * seconds / max(1, len(texts)), 3),
            "examples": [re.sub(r"\s+", " ", t)[:80] for t, _ in flagged[:3]]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="GSM8K's first 1,000 rows only.")
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared"
                                              / "data"))
    args = parser.parse_args()
    language._language_factory()  # profiles load once, outside the timings
    sets = load(Path(args.data), args.quick)
    result: dict = {"quick": args.quick, "datasets": {}}
    for name, texts in sets.items():
        result["datasets"][name] = {}
        for unit in ("rows", "messages"):
            for rule_name, rule in RULES.items():
                figures = measure(texts[unit], rule)
                result["datasets"][name].setdefault(unit, {})[rule_name] = figures
                print(f"{name} {unit} {rule_name}: {figures['not_english']}/{figures['n']} "
                      f"not English, {figures['ms_per_text']} ms each", file=sys.stderr)
    result["total"] = {unit: {rule: sum(d[unit][rule]["not_english"]
                                        for d in result["datasets"].values())
                              for rule in RULES} for unit in ("rows", "messages")}
    result["non_english_flagged"] = {rule_name: {lang: (rule(text) or ("", 0))[0]
                                                 for lang, text in NON_ENGLISH.items()}
                                     for rule_name, rule in RULES.items()}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
