"""SLM Workbench app: a router over the pages in views/ (``st.navigation``), by role.

The page files live in views/, not pages/: Streamlit still gives a folder named pages/ beside
the main script its old auto-discovered sidebar (file names as links) when a page URL is
opened directly (PagesManager.uses_pages_directory), even with st.navigation.

Roles: nobody logged in sees the login page; an admin (password) sees ``PAGES``; a
rater (invite token) sees only the rating page, without navigation. A page outside one's role
is never run: its URL path leads to a refusal, and its link is never sent.

Run as: streamlit run app.py --server.headless true
The workspace folder is ``$WORKBENCH_WORKSPACE`` (default ``workspaces/demo``).
"""

import streamlit as st

from views import _ui

st.set_page_config(page_title="SLM Workbench", layout="wide")
PAGES = [  # the admin's pages
    st.Page("views/data.py", title="Data", icon=":material/table:", default=True),
    st.Page("views/datasets.py", title="Datasets", icon=":material/upload_file:"),
    st.Page("views/browse.py", title="Browse", icon=":material/search:"),
    st.Page("views/dedup.py", title="Duplicates", icon=":material/content_copy:"),
    st.Page("views/versions.py", title="Versions", icon=":material/history:"),
    st.Page("views/privacy.py", title="Privacy", icon=":material/shield_person:"),
    st.Page("views/run.py", title="Run", icon=":material/play_arrow:"),
    st.Page("views/train.py", title="Train", icon=":material/model_training:"),
    st.Page("views/sessions.py", title="Sessions", icon=":material/groups:"),
    st.Page("views/report.py", title="Report", icon=":material/summarize:"),
    st.Page("views/playground.py", title="Playground", icon=":material/chat:"),
]
RATE = st.Page("views/rate.py", title="Rate", icon=":material/thumbs_up_down:")
LOGIN = st.Page("views/login.py", title="Log in", icon=":material/login:")

role = _ui.auth().get("role")
if role == "admin":
    _ui.logout_button()
    st.navigation(PAGES).run()
elif role == "rater":
    st.navigation([RATE, *_ui.refusal_pages(PAGES)], position="hidden").run()
else:
    st.navigation([LOGIN, *_ui.refusal_pages([*PAGES, RATE], login=LOGIN)],
                  position="hidden").run()
