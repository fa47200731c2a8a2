"""Admin-written rating guidelines render no image and no link but http(s) and mailto."""

import pytest

from evaluation.guidelines import allowed_url, guidelines_markdown


def test_a_data_html_link_becomes_its_text():
    assert guidelines_markdown("[open](data:text/html,<script>alert(1)</script>)") == \
        "open\\</script>)"


def test_a_remote_image_becomes_its_alt_text():
    assert guidelines_markdown("Look: ![tracker](http://198.51.100.7/p.png)") == "Look: tracker"


def test_a_javascript_link_becomes_its_text_whatever_its_spelling():
    for url in ("javascript:alert(1)", "JaVaScRiPt:alert(1)", "%20javascript:x", "vbscript:x"):
        assert "](" not in guidelines_markdown(f"[x]({url})"), url


def test_http_https_and_mailto_links_are_kept():
    text = "[a](http://x.org) [b](https://x.org/p?q=1 \"t\") [c](mailto:ana@x.org)"
    assert guidelines_markdown(text) == text


def test_relative_and_entity_encoded_targets_fail_closed():
    assert guidelines_markdown("[a](/data) [b](&#106;avascript:x)") == "a b"


def test_an_image_inside_a_link_keeps_only_the_link():
    assert guidelines_markdown("[![i](http://x/i.png)](https://x.org)") == "[i](https://x.org)"


def test_reference_definitions_outside_the_allowed_schemes_are_dropped():
    text = "[a][r] ![b][s]\n\n[r]: javascript:alert(1)\n[s]: https://x.org/i.png\n"
    assert guidelines_markdown(text) == "[a][r] \\![b][s]\n\n\n[s]: https://x.org/i.png\n"


def test_autolinks_are_kept_only_for_allowed_schemes_and_raw_html_is_escaped():
    assert guidelines_markdown("<https://x.org> <data:text/html,x> <img src=x>") == \
        "<https://x.org> data\\:text/html,x \\<img src=x>"


def test_plain_markdown_is_unchanged():
    text = "# Prefer the *correct* answer\n\n- short\n- `code` and **bold**\n"
    assert guidelines_markdown(text) == text


@pytest.mark.parametrize(("url", "ok"), [("https://a", True), ("HTTP://a", True),
                                         ("mailto:a@b", True), ("ftp://a", False),
                                         ("data:x", False), ("", False)])
def test_allowed_url(url, ok):
    assert allowed_url(url) is ok
