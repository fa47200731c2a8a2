"""SLM Workbench app: a router over the pages in views/ (``st.navigation``).

The page files live in views/, not pages/: Streamlit still gives a folder named pages/ beside
the main script its old auto-discovered sidebar (file names as links) when a page URL is
opened directly (PagesManager.uses_pages_directory), even with st.navigation.

Run as: streamlit run app.py --server.headless true
The workspace folder is ``$WORKBENCH_WORKSPACE`` (default ``workspaces/demo``).
"""

import streamlit as st

st.set_page_config(page_title="SLM Workbench", layout="wide")
PAGES = [
    st.Page("views/data.py", title="Data", icon=":material/table:", default=True),
    st.Page("views/run.py", title="Run", icon=":material/play_arrow:"),
    st.Page("views/rate.py", title="Rate", icon=":material/thumbs_up_down:"),
    st.Page("views/report.py", title="Report", icon=":material/summarize:"),
    st.Page("views/playground.py", title="Playground", icon=":material/chat:"),
]
st.navigation(PAGES).run()
