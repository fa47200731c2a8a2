"""One test per validation finding code: exact code, severity, row and message index."""

import pytest

from curation.validate import CODES, ValidateConfig, detect_language, validate

SYSTEM = {"role": "system", "content": "Answer briefly."}
CONFIG = ValidateConfig(check_language=False)


def user(text="What is 2 + 2?"):
    return {"role": "user", "content": text}


def bot(text="4."):
    return {"role": "assistant", "content": text}


def found(messages, line=5, config=CONFIG, **counters):
    return [(f.code, f.severity, f.message_index, f.message)
            for f in validate([(line, messages)], config, **counters)]


def test_a_clean_conversation_has_no_finding():
    assert found([SYSTEM, user(), bot()]) == []


def test_every_code_has_a_known_severity():
    assert {severity for severity, _ in CODES.values()} == {"info", "warning", "error"}


def test_no_messages():
    assert found([]) == [("no_messages", "error", None, "row 5: no messages")]


def test_unknown_role():
    assert found([SYSTEM, user(), {"role": "robot", "content": "x"}, bot()]) == [
        ("unknown_role", "error", 2, "row 5: message 2 has unknown role 'robot'")]


def test_unknown_key():
    assert found([SYSTEM, {**user(), "lang": "en"}, bot()]) == [
        ("unknown_key", "warning", 1, "row 5: message 1 has unknown key(s) lang")]


def test_empty_content():
    assert found([SYSTEM, user(), bot("")]) == [
        ("empty_content", "error", 2, "row 5: message 2 (assistant) is empty")]


def test_empty_content_beside_a_tool_call_is_fine():
    call = {"role": "assistant", "content": "", "tool_calls": [{"id": "c1"}]}
    reply = {"role": "tool", "content": "42", "tool_call_id": "c1"}
    assert found([SYSTEM, user(), call, reply, bot()]) == []


def test_whitespace_only():
    assert found([SYSTEM, user(" \t\n"), bot()]) == [
        ("whitespace_only", "error", 1, "row 5: message 1 (user) is only whitespace")]


def test_missing_assistant():
    assert found([SYSTEM, user()]) == [
        ("missing_assistant", "error", None, "row 5: no assistant message to learn from")]


def test_missing_system():
    assert found([user(), bot()]) == [
        ("missing_system", "info", None,
         "row 5: no system message (the chat template adds its own)")]


def test_missing_user():
    assert found([SYSTEM, bot()]) == [("missing_user", "error", None, "row 5: no user message")]


def test_too_many_tokens():
    assert found([SYSTEM, user(), bot()], config=ValidateConfig(max_seq_len=10,
                                                                check_language=False),
                 count_tokens=lambda m: 11) == [
        ("too_many_tokens", "error", None, "row 5: 11 tokens > max_seq_len 10")]


def test_openai_token_limit():
    assert found([SYSTEM, user(), bot()], count_openai_tokens=lambda m: 16386) == [
        ("openai_token_limit", "warning", None, "row 5: 16386 tokens > OpenAI's limit 16385")]


def test_no_trainable_tokens_after_truncation():
    assert found([SYSTEM, user(), bot()], count_trainable=lambda m: 0) == [
        ("no_trainable_tokens", "error", None,
         "row 5: 0 trainable assistant tokens (after truncation to max_seq_len 1024)")]


def test_template_error_when_the_template_cannot_place_the_answer():
    def refuse(messages):
        raise ValueError("turn 0: a conversation cannot open with an assistant turn")

    assert found([bot(), user(), bot()], count_trainable=refuse)[-1] == (
        "template_error", "error", None, "row 5: 0 trainable assistant tokens "
        "(turn 0: a conversation cannot open with an assistant turn)")


def test_validation_and_training_share_one_registry_and_one_max_seq_len():
    from curation import codes, validate as validate_module
    from training.config import MAX_SEQ_LEN, TrainConfig

    assert validate_module.CODES is codes.CODES
    assert (codes.NO_TRAINABLE_TOKENS, codes.TEMPLATE_ERROR) == (
        "no_trainable_tokens", "template_error")
    assert ValidateConfig().max_seq_len == TrainConfig().max_seq_len == MAX_SEQ_LEN == 1024


def test_role_order_assistant_after_assistant():
    assert found([SYSTEM, user(), bot(), bot("Also 4.")]) == [
        ("role_order", "warning", 3, "row 5: message 3 repeats role 'assistant'")]


def test_trailing_user_turn():
    assert found([SYSTEM, user(), bot(), user("And 3 + 3?")]) == [
        ("trailing_user_turn", "warning", 3, "row 5: ends with a user turn (ignored in training)")]


def test_tool_call_without_reply():
    call = {"role": "assistant", "content": "", "tool_calls": [{"id": "c9"}]}
    assert found([SYSTEM, user(), call, bot()]) == [
        ("role_order", "warning", 3, "row 5: message 3 repeats role 'assistant'"),
        ("tool_call_without_reply", "error", 2,
         "row 5: message 2 calls tool 'c9' and no tool message answers it")]


def test_encoding_damage():
    assert found([SYSTEM, user("Is the cafÃ© open?"), bot()]) == [
        ("encoding_damage", "warning", 1,
         "row 5: message 1 looks like mojibake (ftfy.fix_encoding would change it)")]


def test_curly_quotes_and_accents_are_not_encoding_damage():
    assert found([SYSTEM, user("Is the “café” open?"), bot("Oui, très.")]) == []


def test_refusal():
    assert found([SYSTEM, user(), bot("I'm sorry, but I can't help with that.")]) == [
        ("refusal", "warning", 2, "row 5: message 2 is a refusal answer")]


def test_boilerplate():
    assert found([SYSTEM, user(), bot("As an AI language model, I think it is 4.")]) == [
        ("boilerplate", "warning", 2, "row 5: message 2 is a boilerplate answer")]


def test_unsupported_language():
    french = [SYSTEM, user("Quelle est la capitale de la France, s'il vous plaît ?"),
              bot("La capitale de la France est Paris, une très belle ville.")]
    result = found(french, config=ValidateConfig())
    assert [(code, severity) for code, severity, _, _ in result] == [
        ("unsupported_language", "warning")]
    assert result[0][3].startswith("row 5: looks like 'fr' (p=")
    assert result[0][3].endswith("); the PII model covers en")


def test_english_and_short_rows_are_not_flagged_for_language():
    config = ValidateConfig()
    assert found([SYSTEM, user("What is the capital city of France, please?"),
                  bot("The capital of France is Paris, a lovely city.")], config=config) == []
    assert found([SYSTEM, user("Bonjour ?"), bot("Salut.")], config=config) == []


@pytest.mark.parametrize("text, lang", [("Das ist ein schöner Tag und wir gehen heute in den "
                                         "Park spazieren.", "de")])
def test_language_detection_is_deterministic(text, lang):
    assert detect_language(text) == detect_language(text)
    assert detect_language(text)[0] == lang


def test_rows_with_schema_errors_are_not_counted():
    calls = []
    validate([(1, [SYSTEM, bot()])], CONFIG, count_tokens=lambda m: calls.append(m) or 1)
    assert calls == []
