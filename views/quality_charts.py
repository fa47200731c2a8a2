"""The Quality page's charts, apart from the page so they can be built and tested alone."""

import math

import altair as alt
import pandas as pd

LOG_SCALE = ("ppl_conditioned", "ppl_answer")  # spread over orders of magnitude


def histogram(frame: pd.DataFrame, name: str) -> alt.Chart:
    """The histogram of one signal over the rows that have it (30 bins at most).

    Perplexities (``LOG_SCALE``) are binned on log10 of the value, their axis labelled with
    the values themselves: a few rows of perplexity 100+ would otherwise squeeze every other
    row into the first bar.
    """
    values = frame[name].dropna()
    axis = alt.Axis()
    if name in LOG_SCALE and (values > 0).all():
        values = values.map(math.log10)
        axis = alt.Axis(labelExpr="format(pow(10, datum.value), '.2~r')")
        name_shown = f"{name} (log scale)"
    else:
        name_shown = name
    data = pd.DataFrame({"value": values.astype(float)})
    return alt.Chart(data).mark_bar().encode(
        alt.X("value:Q", bin=alt.Bin(maxbins=30), title=name_shown, axis=axis),
        alt.Y("count()", title="rows")).properties(height=160)
