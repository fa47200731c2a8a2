"""SLM Workbench app: a router over the pages in views/ (``st.navigation``), by role.

Icons are emoji: a material-symbol page icon becomes the tab's favicon, which the browser
fetches from fonts.gstatic.com, and the app fetches nothing from outside 127.0.0.1.

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
    st.Page("views/data.py", title="Data", icon="📊", default=True),
    st.Page("views/datasets.py", title="Datasets", icon="📥"),
    st.Page("views/browse.py", title="Browse", icon="🔎"),
    st.Page("views/dedup.py", title="Duplicates", icon="👯"),
    st.Page("views/quality.py", title="Quality", icon="✨"),
    st.Page("views/coverage_map.py", title="Coverage map", icon="🗺️"),
    st.Page("views/versions.py", title="Versions", icon="🗂️"),
    st.Page("views/privacy.py", title="Privacy", icon="🛡️"),
    st.Page("views/run.py", title="Run", icon="▶️"),
    st.Page("views/train.py", title="Train", icon="🏋️"),
    st.Page("views/sessions.py", title="Sessions", icon="👥"),
    st.Page("views/report.py", title="Report", icon="📋"),
    st.Page("views/playground.py", title="Playground", icon="💬"),
]
RATE = st.Page("views/rate.py", title="Rate", icon="👍")
LOGIN = st.Page("views/login.py", title="Log in", icon="🔑")

role = _ui.auth().get("role")
if role == "admin":
    _ui.logout_button()
    st.navigation(PAGES, expanded=True).run()  # every page in view, no "View more"
elif role == "rater":
    st.navigation([RATE, *_ui.refusal_pages(PAGES)], position="hidden").run()
else:
    st.navigation([LOGIN, *_ui.refusal_pages([*PAGES, RATE], login=LOGIN)],
                  position="hidden").run()
