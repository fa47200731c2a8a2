"""Rating guidelines (markdown written by the admin) made safe to render in a rater's browser.

Run as: ``st.markdown(guidelines_markdown(text))``

A rater's browser must fetch nothing and follow nothing but ordinary web and mail links, so
before rendering: every image (inline ``![alt](url)``, reference ``![alt][ref]``) becomes its
alt text; a link (inline, reference definition or ``<autolink>``) is kept only when its target
starts with ``http://``, ``https://`` or ``mailto:`` (after removing the whitespace and control
characters browsers ignore), else it becomes its text; raw HTML is escaped (``\\<``). This is
an allowlist, as OWASP's XSS Prevention Cheat Sheet advises for URLs: ``javascript:``,
``data:``, ``vbscript:``, relative and entity-encoded targets all fail closed.
"""

from __future__ import annotations

import re

ALLOWED_SCHEMES = ("http://", "https://", "mailto:")
_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)?")
_INLINE_LINK = re.compile(r"(?<!\\)\[([^\]]*)\]\(\s*(<[^>]*>|[^)\s]*)(?:\s+(?:\"[^\"]*\"|'[^']*'"
                          r"|\([^)]*\)))?\s*\)")
_DEFINITION = re.compile(r"^ {0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+).*$", re.MULTILINE)
_AUTOLINK = re.compile(r"<([A-Za-z][A-Za-z0-9+.-]{1,31}:[^<>\s]*)>")
_IGNORED = re.compile(r"[\x00-\x20\x7f]")


def allowed_url(url: str) -> bool:
    """True when ``url`` (angle brackets, whitespace and control characters removed) starts
    with http://, https:// or mailto: (case-insensitive)."""
    return _IGNORED.sub("", url.strip("<>")).lower().startswith(ALLOWED_SCHEMES)


def guidelines_markdown(text: str) -> str:
    """``text`` with images turned into their alt text, links outside ALLOWED_SCHEMES into
    their text, and ``<`` of raw HTML escaped.

    >>> guidelines_markdown("See ![logo](http://x/a.png) [docs](https://x) [go](javascript:a)")
    'See logo [docs](https://x) go'
    """
    text, previous = text.replace("\0", ""), None
    while previous != text:  # an image inside a link's text, or a link inside an image's alt
        previous = text
        text = _IMAGE.sub(lambda m: m.group(1), text)
    text = text.replace("![", "\\![")  # reference images: at most a link, checked below
    text = _INLINE_LINK.sub(lambda m: m.group(0) if allowed_url(m.group(2)) else m.group(1),
                            text)
    text = _DEFINITION.sub(lambda m: m.group(0) if allowed_url(m.group(1)) else "", text)
    links: list[str] = []

    def keep(match: re.Match) -> str:
        if not allowed_url(match.group(1)):
            return match.group(1).replace(":", "\\:", 1)
        links.append(match.group(0))
        return f"\0{len(links) - 1}\0"

    text = _AUTOLINK.sub(keep, text).replace("<", "\\<")
    return re.sub("\0(\\d+)\0", lambda m: links[int(m.group(1))], text)
