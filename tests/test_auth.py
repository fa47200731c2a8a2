"""Admin password (scrypt) and invite tokens (SHA-256): hashing and the store."""

import pytest

from workbench.auth import (
    AuthError,
    hash_password,
    new_token,
    token_hash,
    verify_password,
)
from workbench.store import auth as admin


def test_a_password_hash_is_salted_and_verifies_only_the_same_password():
    first, second = hash_password("correct horse"), hash_password("correct horse")
    assert first != second and first.startswith("scrypt$16384$8$1$")
    assert "correct horse" not in first
    assert verify_password("correct horse", first) and verify_password("correct horse", second)
    assert not verify_password("correct horsE", first)


@pytest.mark.parametrize("stored", ["", "plain", "md5$x$y$z$a$b", "scrypt$a$b$c$d$e"])
def test_a_malformed_stored_hash_never_verifies(stored):
    assert verify_password("anything at all", stored) is False


def test_a_short_admin_password_is_refused():
    with pytest.raises(AuthError, match="at least 10 characters"):
        hash_password("short")


def test_tokens_are_long_random_and_stored_as_sha256():
    token = new_token()
    assert token.startswith("rt_") and len(token) == 46
    assert new_token() != token
    assert token_hash(f"  {token}\n") == token_hash(token) and len(token_hash(token)) == 64


def test_first_admin_password_is_set_then_checked(ws):
    assert not admin.admin_password_set(ws)
    admin.set_admin_password(ws, "a long password", "a long password")
    assert admin.admin_password_set(ws)
    assert admin.check_admin(ws, "a long password")
    assert not admin.check_admin(ws, "a long passworD")
    stored = ws.scalar("SELECT password_hash FROM admin_credentials")
    assert "a long password" not in stored


def test_a_confirmation_that_differs_sets_nothing(ws):
    with pytest.raises(AuthError, match="differ"):
        admin.set_admin_password(ws, "a long password", "a long passw0rd")
    assert not admin.admin_password_set(ws)


def test_changing_the_admin_password_needs_the_current_one(ws):
    admin.set_admin_password(ws, "a long password")
    with pytest.raises(AuthError, match="current admin password is wrong"):
        admin.set_admin_password(ws, "another long one")
    admin.set_admin_password(ws, "another long one", current="a long password")
    assert admin.check_admin(ws, "another long one")
    assert not admin.check_admin(ws, "a long password")


def test_no_admin_password_means_no_admin_login(ws):
    assert admin.check_admin(ws, "") is False
