"""CSV text a spreadsheet cannot run: text cells that start a formula get a leading quote.

Run as: ``Path("ratings.csv").write_text(csv_text(rows))``

A spreadsheet reads a cell that begins with ``=``, ``+``, ``-`` or ``@`` as a formula, and tab
or carriage return can hide one; OWASP's "CSV Injection" rule is to prefix such a cell with a
single quote, which the spreadsheet shows as text. Only string cells are escaped: a number
such as -0.5 in a numeric column stays a number.
"""

from __future__ import annotations

import csv
import io

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def escape_cell(value):
    """``value`` with a ``'`` prefix when it is a string that starts like a formula.

    >>> escape_cell('=HYPERLINK("http://x","y")'), escape_cell(-0.5), escape_cell("ok")
    ('\\'=HYPERLINK("http://x","y")', -0.5, 'ok')
    """
    return "'" + value if isinstance(value, str) and value.startswith(FORMULA_STARTS) else value


def csv_text(rows) -> str:
    """CSV text (header line, then one line per row) with every string cell escaped.

    ``rows``: a list of dicts (columns from the first-seen keys of all rows) or a pandas
    DataFrame (its columns; missing values are empty cells, as ``DataFrame.to_csv`` writes).
    """
    if hasattr(rows, "to_dict"):  # a DataFrame: NaN/NaT/None become empty cells
        columns = list(rows.columns)
        records = rows.astype(object).where(rows.notna(), None).to_dict("records")
    else:
        records = list(rows)
        columns = list(dict.fromkeys(k for r in records for k in r))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: escape_cell(v) for k, v in r.items()} for r in records)
    return out.getvalue()
