"""SLM Workbench app: a router over the pages (``st.navigation``; pages/ is not auto-discovered).

Run as: streamlit run app.py --server.headless true
The workspace folder is ``$WORKBENCH_WORKSPACE`` (default ``workspaces/demo``).
"""

import streamlit as st

st.set_page_config(page_title="SLM Workbench", layout="wide")
PAGES = [
    st.Page("pages/data.py", title="Data", icon=":material/table:", default=True),
    st.Page("pages/run.py", title="Run", icon=":material/play_arrow:"),
    st.Page("pages/rate.py", title="Rate", icon=":material/thumbs_up_down:"),
    st.Page("pages/report.py", title="Report", icon=":material/summarize:"),
]
st.navigation(PAGES).run()
