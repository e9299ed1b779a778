"""
Passwords: salted, memory-hard hashes (scrypt), their verification, and
the few rules a new password must follow.

A hash is one self-describing ASCII string::

    scrypt$16384$8$1$<salt, base64>$<hash, base64>

that is the scheme, scrypt's cost C{N}, block size C{r} and parallelism
C{p}, a 16-byte random salt and the 32-byte hash of the password (NFC
normalized, then UTF-8). Because each string names its own parameters,
they can be raised later and every hash stored before still verifies
(L{needs_rehash} says which to hash again at the next login).

Pure functions, no reactor. L{hash_password} and L{verify_password} take
tens of milliseconds of CPU and 16 MiB each: a daemon runs them in a
thread (C{hashlib.scrypt} releases the GIL while it works), a bounded
number at a time.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
import unicodedata
from dataclasses import dataclass

__all__ = [
    "HASH_BYTES",
    "HASH_RANGE",
    "MAX_LENGTH",
    "MAX_WORK",
    "MIN_LENGTH",
    "SALT_BYTES",
    "SALT_RANGE",
    "SCHEME",
    "N",
    "P",
    "R",
    "check_new_password",
    "hash_password",
    "needs_rehash",
    "verify_password",
]

SCHEME = "scrypt"
#: scrypt's parameters for new hashes: cost (a power of 2), block size and
#: parallelism. They take 16 MiB (128 * N * r bytes) and about 30 ms of
#: CPU a hash (measured on one core of a small shared server).
N = 2**14
R = 8
P = 1
SALT_BYTES = 16
HASH_BYTES = 32

#: The most work (N * r * p) a stored string may ask of one verification:
#: 4 times today's, so room to raise N to 2**16, and no more. As scrypt's
#: memory is 128 * N * r bytes, it also bounds that to about 64 MiB: a
#: tampered file cannot make one login take a gigabyte or minutes.
MAX_WORK = 4 * N * R * P
#: The lengths of salt and hash (bytes) a stored string may have.
SALT_RANGE = range(8, 65)
HASH_RANGE = range(16, 65)
#: Longer stored strings are refused before any parsing.
_MAX_STORED = 256
# Plain ASCII digits, no sign, no leading zero, no "_" (int() takes all).
_NUMBER = re.compile(r"[1-9][0-9]{0,9}")

#: The length (in characters) a new password must have.
MIN_LENGTH = 8
MAX_LENGTH = 256


@dataclass(frozen=True, slots=True)
class _Stored:
    """A stored string, parsed: only ever made with acceptable parameters."""

    n: int
    r: int
    p: int
    salt: bytes
    digest: bytes


def hash_password(password: str) -> str:
    """
    The stored string for C{password}: with today's parameters and a new
    random salt, so two hashes of one password differ. It holds nothing of
    the password but its hash, and is ASCII with no spaces or newlines.
    """
    salt = secrets.token_bytes(SALT_BYTES)
    digest = _scrypt(password, salt, N, R, P, HASH_BYTES)
    return "$".join((SCHEME, str(N), str(R), str(P), _encode(salt), _encode(digest)))


def verify_password(password: str, stored: str) -> bool:
    """
    Whether C{password} is the one C{stored} was made from.

    Never raises: a stored string that is malformed, of another scheme,
    asks for more work than L{MAX_WORK}, or has a salt or hash of a length
    outside L{SALT_RANGE} or L{HASH_RANGE} is False, at once (no hashing).
    The comparison takes the same time wherever the hashes differ.
    """
    parsed = _parse(stored)
    if parsed is None:
        return False
    try:
        digest = _scrypt(
            password, parsed.salt, parsed.n, parsed.r, parsed.p, len(parsed.digest)
        )
    except ValueError:  # parameters OpenSSL refuses (N too big for r = 1)
        return False
    return hmac.compare_digest(digest, parsed.digest)


def needs_rehash(stored: str) -> bool:
    """
    Whether C{stored} should be replaced by a new hash (made at the next
    successful login): True unless it is a string L{verify_password}
    accepts whose parameters, salt and hash are none below today's.
    """
    parsed = _parse(stored)
    return (
        parsed is None
        or parsed.n < N
        or parsed.r < R
        or parsed.p < P
        or len(parsed.salt) < SALT_BYTES
        or len(parsed.digest) < HASH_BYTES
    )


def check_new_password(password: str) -> str | None:
    """
    Why C{password} may not be chosen, in one line; None when it may. The
    only rules: from L{MIN_LENGTH} to L{MAX_LENGTH} characters, not one
    character repeated, not only spaces (or other blanks).
    """
    if len(password) < MIN_LENGTH:
        return f"a password needs at least {MIN_LENGTH} characters"
    if len(password) > MAX_LENGTH:
        return f"a password may have at most {MAX_LENGTH} characters"
    if password.isspace():
        return "a password cannot be only spaces"
    if len(set(password)) == 1:
        return "a password cannot be one character repeated"
    return None


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int, dklen: int) -> bytes:
    # NFC: the same text typed on two systems (é as one character or as e
    # and an accent) is the same password. surrogatepass: any str hashes,
    # a lone surrogate from a lax decoder too, rather than raising.
    secret = unicodedata.normalize("NFC", password).encode("utf-8", "surrogatepass")
    # OpenSSL refuses to use more memory than maxmem (32 MiB when 0): it is
    # given exactly what these parameters take, its own formula.
    return hashlib.scrypt(
        secret,
        salt=salt,
        n=n,
        r=r,
        p=p,
        dklen=dklen,
        maxmem=128 * r * (n + p + 2),
    )


def _parse(stored: object) -> _Stored | None:
    """C{stored} parsed, or None unless it is well formed and within bounds."""
    # A row of a tampered file may hold a number or bytes, not text.
    if not isinstance(stored, str) or len(stored) > _MAX_STORED:
        return None
    if not stored.isascii():
        return None
    fields = stored.split("$")
    if len(fields) != 6 or fields[0] != SCHEME:
        return None
    numbers = fields[1:4]
    if not all(_NUMBER.fullmatch(number) for number in numbers):
        return None
    n, r, p = (int(number) for number in numbers)
    if n < 2 or n & (n - 1) or n * r * p > MAX_WORK:
        return None
    try:
        salt = base64.b64decode(fields[4], validate=True)
        digest = base64.b64decode(fields[5], validate=True)
    except binascii.Error:
        return None
    if len(salt) not in SALT_RANGE or len(digest) not in HASH_RANGE:
        return None
    return _Stored(n, r, p, salt, digest)


def _encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
