from curation.validate import ValidateConfig, validate


def codes(findings):
    return [(f.index, f.code, f.severity) for f in findings]


def test_missing_system_is_info_and_missing_user_is_error():
    rows = [(1, [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hey"}]),
            (2, [{"role": "system", "content": "Be kind"},
                 {"role": "assistant", "content": "Hey"}])]
    assert codes(validate(rows, ValidateConfig())) == [(0, "missing_system", "info"),
                                                       (1, "missing_user", "error")]


def test_whitespace_only_content_and_unknown_role_are_errors():
    rows = [(7, [{"role": "system", "content": "s"}, {"role": "user", "content": " \n"},
                 {"role": "robot", "content": "x"}, {"role": "assistant", "content": "ok"}])]
    found = validate(rows, ValidateConfig())
    assert codes(found) == [(0, "whitespace_only", "error"), (0, "unknown_role", "error")]
    assert found[0].message == "row 7: message 1 (user) is only whitespace"


def test_length_is_checked_against_max_seq_len_with_the_given_counter():
    rows = [(1, [{"role": "system", "content": "s"}, {"role": "user", "content": "a"},
                 {"role": "assistant", "content": "b"}])]
    found = validate(rows, ValidateConfig(max_seq_len=10), count_tokens=lambda m: 11)
    assert codes(found) == [(0, "too_many_tokens", "error")]
    assert validate(rows, ValidateConfig(max_seq_len=11), count_tokens=lambda m: 11) == []


def test_repeated_role_and_trailing_user_turn_are_warnings():
    rows = [(1, [{"role": "system", "content": "s"}, {"role": "user", "content": "a"},
                 {"role": "assistant", "content": "b"}, {"role": "assistant", "content": "c"},
                 {"role": "user", "content": "d"}])]
    assert codes(validate(rows, ValidateConfig())) == [(0, "role_order", "warning"),
                                                       (0, "trailing_user_turn", "warning")]
