"""Coverage map: the rows' embeddings in 2-D, clustered and labelled, coloured by cluster,
split, duplicate status, PII findings or held-out coverage (views/coverage.py)."""

import streamlit as st

from views import _ui
from views.coverage import section

_ui.sidebar()
st.title("Coverage map")
st.caption("Each point is a row, placed by its sentence embedding (UMAP); nearby points say "
           "similar things. Clusters are labelled by their most distinctive words (c-TF-IDF). "
           "'Held-out over train' shows the test rows that have no close training row.")
section()
