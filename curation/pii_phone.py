"""The region a phone number belongs to, read with python-phonenumbers (as Presidio reads it).

Run as: ``from curation.pii_phone import phone_region; phone_region("+44 20 7946 0958")``

A number written with its country code ("+44 ...", "0044 ...") has the region of that code
(and, for codes shared by several regions such as +1, of its area code). A national number
("415-555-0132", "06 12 34 56 78") has no region of its own: it is read as each region of
``PHONE_REGIONS`` in turn, and the region is *assumed*: the first region whose national
format groups the digits as they are written and where it is a valid number, else the first
with that grouping where it is a possible number (its length fits), else the first where it
is valid, else the first where it is possible. The region
phonenumbers gives the parsed number is the answer (a +1 number read as "US" with a Toronto
area code is "CA").
"""

from __future__ import annotations

import re

import phonenumbers

# Presidio's PhoneRecognizer regions (its "UK" is phonenumbers' "GB"; its "FE" is no region)
# with France, whose "06 12 34 56 78" Presidio also finds.
PHONE_REGIONS = ("US", "GB", "DE", "FR", "IL", "IN", "CA", "BR")
_GROUPS = re.compile(r"\d+")


def phone_region(value: str, regions: tuple[str, ...] = PHONE_REGIONS) -> tuple[str | None, bool]:
    """(region, assumed) of the phone number ``value``: an ISO 3166 alpha-2 code, or None
    when no region reads it as a possible number; ``assumed`` is True when ``value`` has no
    country code and the region is the one it was read as (see the module doc).

    >>> phone_region("+44 20 7946 0958"), phone_region("415-555-0132")
    (('GB', False), ('US', True))
    """
    international = re.sub(r"^\s*00", "+", value)
    if international.lstrip().startswith("+"):
        number = _parse(international, None)
        region = phonenumbers.region_code_for_number(number) if number else None
        if region and region != "ZZ":
            return region, False
    read = [(r, n) for r in regions if (n := _parse(value, r)) is not None]
    valid = [(r, n) for r, n in read if phonenumbers.is_valid_number(n)]
    possible = [(r, n) for r, n in read if phonenumbers.is_possible_number(n)]
    grouped = [(r, n) for r, n in possible if _same_groups(value, n)]
    for region, number in ([c for c in grouped if c in valid] or grouped or valid or possible):
        return phonenumbers.region_code_for_number(number) or region, True
    return None, False


def region_label(region: str | None, assumed: bool | None) -> str:
    """How a finding's region is shown: "GB", "US (assumed)", or "" without one."""
    if not region:
        return ""
    return f"{region} (assumed)" if assumed else region


def _parse(value: str, region: str | None) -> phonenumbers.PhoneNumber | None:
    try:
        return phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        return None


def _same_groups(value: str, number: phonenumbers.PhoneNumber) -> bool:
    """The digit groups of ``value`` are those of the number's national format."""
    national = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    return [len(g) for g in _GROUPS.findall(value)] == [len(g) for g in _GROUPS.findall(national)]
