"""The Report page's cost section: cost per request of every system, the fine-tune's
break-even against the best prompted system, and the cumulative-cost plot."""

import pandas as pd
import streamlit as st

from evaluation import formatting as f
from evaluation.cost import payback_note
from evaluation.report import COST_HEADER, cost_rows
from evaluation.report_figures import cost_figure


def show(cost: dict | None) -> None:
    """Table, pay-back sentence and plot of ``cost`` (``workbench.stages.report.cost_section``);
    nothing before any generate run."""
    if not cost or not cost["systems"]:
        return
    st.subheader("Cost per request and break-even")
    rows = [[f.number(cell) if isinstance(cell, float) else cell for cell in row]
            for row in cost_rows(cost)]
    st.dataframe(pd.DataFrame(rows, columns=COST_HEADER), hide_index=True,
                 width="stretch", key="cost_table")
    note = payback_note(cost)
    if note:
        st.text(note)
    figure = cost_figure(cost)
    if figure is not None:
        st.pyplot(figure, clear_figure=True)
    st.text(f"Measured on {cost.get('device') or 'this machine'} while generating (model "
            f"loading excluded; batched: a request's share of its batch). {cost['rule']}.")
