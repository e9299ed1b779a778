"""
What L{twisted_chat.core.passwords} guarantees: hashes that verify, are
salted and self-describing, and hold nothing of the password; stored
strings that are malformed or ask too much refused at once, never raised;
which hashes need redoing; and the rules of a new password.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterator

import pytest

from twisted_chat.core import passwords
from twisted_chat.core.passwords import (
    check_new_password,
    hash_password,
    needs_rehash,
    verify_password,
)

PASSWORD = "correct horse battery staple"


def stored_with(
    password: str,
    n: int,
    r: int,
    p: int,
    salt: bytes = b"0123456789abcdef",
    dklen: int = 32,
) -> str:
    """A stored string made by hand with the given parameters."""
    digest = hashlib.scrypt(
        password.encode(), salt=salt, n=n, r=r, p=p, dklen=dklen, maxmem=2**27
    )
    encoded = [base64.b64encode(data).decode() for data in (salt, digest)]
    return "$".join(["scrypt", str(n), str(r), str(p), *encoded])


@pytest.fixture
def hashed() -> str:
    return hash_password(PASSWORD)


@pytest.fixture
def no_hashing(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[int, ...]]]:
    """scrypt replaced by a recorder of (n, r, p, maxmem) that hashes nothing."""
    calls: list[tuple[int, ...]] = []

    def recorder(
        password: bytes, *, salt: bytes, n: int, r: int, p: int, dklen: int, maxmem: int
    ) -> bytes:
        calls.append((n, r, p, maxmem))
        return bytes(dklen)

    monkeypatch.setattr(hashlib, "scrypt", recorder)
    yield calls


# Hashing and verifying.


def test_a_hash_verifies_its_password_only(hashed: str) -> None:
    """The password a hash was made from verifies; any other does not."""
    assert verify_password(PASSWORD, hashed) is True
    for wrong in ("", PASSWORD.upper(), PASSWORD + " ", PASSWORD[:-1], "x"):
        assert verify_password(wrong, hashed) is False


def test_the_stored_string_says_its_scheme_and_parameters(hashed: str) -> None:
    """A hash is scrypt$N$r$p$salt$hash in ASCII, with today's parameters,
    a 16-byte salt and a 32-byte hash."""
    scheme, n, r, p, salt, digest = hashed.split("$")
    assert (scheme, n, r, p) == ("scrypt", "16384", "8", "1")
    assert len(base64.b64decode(salt, validate=True)) == 16
    assert len(base64.b64decode(digest, validate=True)) == 32
    assert hashed.isascii() and hashed.isprintable() and " " not in hashed


def test_two_hashes_of_one_password_differ(hashed: str) -> None:
    """Each hash has its own random salt: the same password hashed twice
    gives two strings (and two salts), both of which verify."""
    again = hash_password(PASSWORD)
    assert again != hashed
    assert again.split("$")[4] != hashed.split("$")[4]
    assert verify_password(PASSWORD, again) and verify_password(PASSWORD, hashed)


@pytest.mark.parametrize("password", [PASSWORD, "zoë 日本語 🎉 pass", "12345678"])
def test_the_stored_string_holds_nothing_of_the_password(password: str) -> None:
    """Neither the password, nor its UTF-8 in base64, nor a long piece of
    it is in the stored string."""
    stored = hash_password(password)
    encoded = base64.b64encode(password.encode()).decode()
    pieces = {password[i : i + 5] for i in range(len(password) - 4)}
    assert password not in stored
    assert encoded not in stored
    assert not [piece for piece in pieces if piece in stored]


def test_canonically_equal_passwords_are_one() -> None:
    """é typed as one character or as e and a combining accent is the same
    password (both are normalized to NFC before hashing)."""
    stored = hash_password("caf\u00e9 au lait")
    assert verify_password("cafe\u0301 au lait", stored)


def test_any_string_hashes_a_lone_surrogate_too() -> None:
    """A password with a lone surrogate (from a lax decoder) hashes and
    verifies rather than raising, and differs from its neighbours."""
    stored = hash_password("pass\ud800word")
    assert verify_password("pass\ud800word", stored)
    assert not verify_password("pass\ud801word", stored)


def test_verifying_compares_in_constant_time(
    hashed: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hashes are compared by hmac.compare_digest, whose time does not
    depend on where they first differ."""
    compared: list[tuple[bytes, bytes]] = []
    compare_digest = hmac.compare_digest

    def compare(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return compare_digest(a, b)

    monkeypatch.setattr(hmac, "compare_digest", compare)
    assert verify_password(PASSWORD, hashed)
    assert len(compared) == 1 and len(compared[0][0]) == 32


# Older and newer parameters.


def test_hashes_of_other_parameters_verify() -> None:
    """A hash stored with other parameters (lower, as an old release may
    have used; higher, as a later one may) still verifies: each string
    carries its own."""
    for n, r, p in [(2**10, 8, 1), (2**14, 4, 2), (2**15, 8, 1)]:
        stored = stored_with(PASSWORD, n, r, p)
        assert verify_password(PASSWORD, stored), (n, r, p)
        assert not verify_password("wrong", stored), (n, r, p)


def test_needs_rehash_when_below_todays_parameters(hashed: str) -> None:
    """needs_rehash is False for a hash made today or with parameters above
    today's, and True when any parameter, the salt or the hash is below
    today's, or when the string is not one verify_password takes."""
    assert needs_rehash(hashed) is False
    assert needs_rehash(stored_with(PASSWORD, 2**15, 8, 1)) is False
    assert needs_rehash(stored_with(PASSWORD, 2**13, 8, 1)) is True
    assert needs_rehash(stored_with(PASSWORD, 2**15, 4, 1)) is True
    assert needs_rehash(stored_with(PASSWORD, 2**14, 8, 1, salt=b"8 bytes!")) is True
    assert needs_rehash(stored_with(PASSWORD, 2**14, 8, 1, dklen=16)) is True
    assert needs_rehash("bcrypt$whatever") is True
    assert needs_rehash("") is True


# Stored strings refused.

GOOD_SALT = base64.b64encode(b"0123456789abcdef").decode()
GOOD_HASH = base64.b64encode(bytes(32)).decode()


def fields(*middle: str) -> str:
    return "$".join(["scrypt", *middle])


MALFORMED = {
    "empty": "",
    "scheme only": "scrypt",
    "five fields": fields("16384", "8", "1", GOOD_HASH),
    "seven fields": fields("16384", "8", "1", GOOD_SALT, GOOD_HASH, ""),
    "unknown scheme": f"bcrypt$16384$8$1${GOOD_SALT}${GOOD_HASH}",
    "scheme in capitals": f"SCRYPT$16384$8$1${GOOD_SALT}${GOOD_HASH}",
    "argon2 string": "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2g",
    "bad base64 character": fields("16384", "8", "1", GOOD_SALT, "!" + GOOD_HASH[1:]),
    "bad base64 padding": fields("16384", "8", "1", GOOD_SALT[:-1], GOOD_HASH),
    "base64 with a newline": fields("16384", "8", "1", GOOD_SALT, GOOD_HASH + "\n"),
    "empty salt": fields("16384", "8", "1", "", GOOD_HASH),
    "salt of 4 bytes": fields("16384", "8", "1", "AAAAAA==", GOOD_HASH),
    "hash of 8 bytes": fields("16384", "8", "1", GOOD_SALT, "AAAAAAAAAAA="),
    "hash of 100 bytes": fields(
        "16384", "8", "1", GOOD_SALT, base64.b64encode(bytes(100)).decode()
    ),
    "N of 2**30": fields(str(2**30), "8", "1", GOOD_SALT, GOOD_HASH),
    "N of 2**17": fields(str(2**17), "8", "1", GOOD_SALT, GOOD_HASH),
    "r of a million": fields("16384", "1000000", "1", GOOD_SALT, GOOD_HASH),
    "p of a million": fields("16384", "8", "1000000", GOOD_SALT, GOOD_HASH),
    "N not a power of 2": fields("16383", "8", "1", GOOD_SALT, GOOD_HASH),
    "N of 1": fields("1", "8", "1", GOOD_SALT, GOOD_HASH),
    "N of 0": fields("0", "8", "1", GOOD_SALT, GOOD_HASH),
    "r of 0": fields("16384", "0", "1", GOOD_SALT, GOOD_HASH),
    "negative p": fields("16384", "8", "-1", GOOD_SALT, GOOD_HASH),
    "N with a sign": fields("+16384", "8", "1", GOOD_SALT, GOOD_HASH),
    "N with a space": fields(" 16384", "8", "1", GOOD_SALT, GOOD_HASH),
    "N with an underscore": fields("16_384", "8", "1", GOOD_SALT, GOOD_HASH),
    "N in Arabic digits": fields("١٦٣٨٤", "8", "1", GOOD_SALT, GOOD_HASH),
    "N of 5000 digits": fields("9" * 5000, "8", "1", GOOD_SALT, GOOD_HASH),
    "not ASCII": fields("16384", "8", "1", GOOD_SALT, GOOD_HASH) + "é",
    "a megabyte": fields("16384", "8", "1", "A" * 2**20, GOOD_HASH),
}


@pytest.mark.parametrize("stored", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_stored_strings_are_false_without_hashing(
    stored: str, no_hashing: list[tuple[int, ...]]
) -> None:
    """A stored string of the wrong shape, another scheme, bad base64, odd
    lengths or absurd parameters is False, and nothing is hashed: it costs
    no time and no memory, whatever a tampered file holds."""
    assert verify_password(PASSWORD, stored) is False
    assert needs_rehash(stored) is True
    assert no_hashing == []


@pytest.mark.parametrize("stored", [None, 16384, b"scrypt$16384$8$1$AA$AA"])
def test_a_stored_value_that_is_not_text_is_false(stored: object) -> None:
    """A row that holds a number, a blob or NULL instead of text (a file
    edited by hand) verifies as False rather than raising."""
    assert verify_password(PASSWORD, stored) is False  # type: ignore[arg-type]
    assert needs_rehash(stored) is True  # type: ignore[arg-type]


def test_the_most_work_a_stored_string_may_ask(
    no_hashing: list[tuple[int, ...]],
) -> None:
    """A stored string asking for up to MAX_WORK (4 times today's N*r*p) is
    hashed, given the memory it takes (64 MiB at most) and no more; just
    past it, nothing is hashed."""
    assert passwords.MAX_WORK == 4 * 2**14 * 8
    at_most = fields(str(2**16), "8", "1", GOOD_SALT, GOOD_HASH)
    assert verify_password(PASSWORD, at_most)  # the recorder's zeros match
    assert no_hashing == [(2**16, 8, 1, 128 * 8 * (2**16 + 3))]
    assert no_hashing[0][3] < 64 * 2**20 + 4096
    for past in [(2**17, 8, 1), (2**16, 8, 2), (2**14, 8, 5), (2**16, 9, 1)]:
        n, r, p = map(str, past)
        assert verify_password(PASSWORD, fields(n, r, p, GOOD_SALT, GOOD_HASH)) is False
    assert len(no_hashing) == 1


def test_parameters_openssl_refuses_are_false_not_raised() -> None:
    """Parameters within the bounds that OpenSSL still refuses (N must be
    below 2**(16 r)) make verify_password False, never an exception."""
    stored = fields(str(2**16), "1", "1", GOOD_SALT, GOOD_HASH)
    assert verify_password(PASSWORD, stored) is False


# The rules of a new password.


@pytest.mark.parametrize(
    "password, reason",
    [
        ("", "a password needs at least 8 characters"),
        ("abc1234", "a password needs at least 8 characters"),
        ("x" * 257, "a password may have at most 256 characters"),
        (" " * 8, "a password cannot be only spaces"),
        (" \t \t \u3000  ", "a password cannot be only spaces"),
        ("aaaaaaaa", "a password cannot be one character repeated"),
        ("🎉" * 12, "a password cannot be one character repeated"),
    ],
)
def test_new_passwords_refused_say_why(password: str, reason: str) -> None:
    """Too short, too long, only blanks, or one character repeated: refused
    with a one-line reason."""
    assert check_new_password(password) == reason


@pytest.mark.parametrize(
    "password",
    [
        "abcd1234",
        "password",
        "12345678",
        "aaaaaaab",
        "       a",
        "日本語の合言葉12",
        "🎉🎈" * 4,
        "x" * 255 + "y",
        PASSWORD,
    ],
)
def test_new_passwords_follow_no_other_rules(password: str) -> None:
    """Anything from 8 to 256 characters that is not one character repeated
    nor only blanks is taken: no rules of character classes or lists."""
    assert check_new_password(password) is None
