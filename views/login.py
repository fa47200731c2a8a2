"""Log in: the admin with the password (set here on first start), a rater with an invite token.

A rater's invite link may carry the token as ``?token=…``: it is removed from the address bar
and exchanged for this browser session once; the same link opened again (Back, history) logs
nobody in, the token typed below still does. Failed logins are counted per workspace, across
browser sessions, with growing waits (workbench.store.auth.admin_login / rater_login).
Nothing typed here is logged; the store keeps only hashes (workbench/auth.py).
"""

import streamlit as st

from views import _ui
from workbench.auth import AuthError
from workbench.store import DB_NAME, open_workspace
from workbench.store import auth as admin


def rater_login(token: str, via_link: bool = False) -> None:
    with _ui.workspace() as ws:
        try:
            rater = admin.rater_login(ws, token, via_link=via_link)
        except AuthError as exc:
            st.error(str(exc))
            return
    st.session_state["auth"] = {"role": "rater", **rater}
    st.rerun()


st.title("SLM Workbench")
if not (_ui.workspace_path() / DB_NAME).exists():  # first start in a new folder
    with open_workspace(_ui.workspace_path()):
        pass
link_token = st.query_params.get("token")
if link_token:
    st.query_params.clear()
    rater_login(link_token, via_link=True)

with _ui.workspace() as ws:
    first_start = not admin.admin_password_set(ws)

if first_start:
    st.subheader("First start: set the admin password")
    st.caption("The admin creates rating sessions and sees every page; raters join with "
               "invite tokens. The password is stored as a scrypt hash in the workspace.")
    with st.form("set_password"):
        password = st.text_input("New admin password", type="password", key="new_password")
        confirm = st.text_input("Repeat it", type="password", key="confirm_password")
        if st.form_submit_button("Set password and log in", key="set_password_submit"):
            with _ui.workspace() as ws:
                try:
                    admin.set_admin_password(ws, password, confirm)
                except AuthError as exc:
                    st.error(str(exc))
                    st.stop()
            st.session_state["auth"] = {"role": "admin"}
            st.rerun()
    st.stop()

rater_col, admin_col = st.columns(2)
with rater_col.form("rater_login"):
    st.subheader("Rater")
    token = st.text_input("Invite token", type="password", key="token")
    if st.form_submit_button("Start rating", key="rater_submit"):
        rater_login(token)
with admin_col.form("admin_login"):
    st.subheader("Admin")
    password = st.text_input("Admin password", type="password", key="password")
    if st.form_submit_button("Log in", key="admin_submit"):
        with _ui.workspace() as ws:
            try:
                admin.admin_login(ws, password)
            except AuthError as exc:
                st.error(str(exc))
                st.stop()
        st.session_state["auth"] = {"role": "admin"}
        st.rerun()
