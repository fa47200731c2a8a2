"""Secrets: the admin password (scrypt) and rater invite tokens (stored as SHA-256 only).

Run as: ``h = hash_password("correct horse"); verify_password("correct horse", h)``

Passwords are low-entropy, so they get a slow, salted, memory-hard hash: ``hashlib.scrypt``
(standard library) with n = 2^14, r = 8, p = 1, the interactive-login parameters of the scrypt
paper (Percival 2009) and OWASP's Password Storage Cheat Sheet; ~16 MiB and ~50 ms per check.
Invite tokens are 32 random bytes from ``secrets`` (256 bits), so a single SHA-256 is enough
to store them: nobody can guess a preimage, and a fast hash lets a login find the rater by hash.
Comparisons use ``hmac.compare_digest``. No secret is ever logged or stored in clear.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from common.errors import WorkbenchError

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
MIN_PASSWORD_CHARS = 10
TOKEN_PREFIX = "rt_"


class AuthError(WorkbenchError):
    """A login, password or token that cannot be accepted; the message says why."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def hash_password(password: str) -> str:
    """``scrypt$n$r$p$salt$hash`` (base64 parts) of a password with a fresh 16-byte salt.

    Raises AuthError when the password is shorter than MIN_PASSWORD_CHARS characters.
    """
    check_new_password(password)
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P,
                            dklen=32)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    """True when ``password`` matches a ``hash_password`` string (constant-time compare)."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        got = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n),
                             r=int(r), p=int(p), dklen=len(expected))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, expected)


def check_new_password(password: str, confirm: str | None = None) -> None:
    """Raise AuthError for a password too short, or one that differs from its confirmation."""
    if len(password) < MIN_PASSWORD_CHARS:
        raise AuthError(f"the admin password needs at least {MIN_PASSWORD_CHARS} characters")
    if confirm is not None and not hmac.compare_digest(password.encode(), confirm.encode()):
        raise AuthError("the two passwords differ")


def new_token() -> str:
    """A fresh invite token: ``rt_`` + 43 URL-safe characters (32 random bytes)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """SHA-256 hex of a token, as stored; surrounding whitespace is ignored (copy-paste)."""
    return hashlib.sha256(token.strip().encode()).hexdigest()
