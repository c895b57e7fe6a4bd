"""Personal data at rest: AES-GCM encryption and keyed search hashes (blind indexes).

Both keys are derived from settings.KEHU_DATA_KEY, so one secret in KEHU_HOME (or the
environment) unlocks the store. The hash lets us find a customer by mobile or e-mail and spot
duplicates without ever storing the plaintext.
"""

import base64
import hashlib
import hmac
import os
from functools import lru_cache

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings

_PREFIX = "v1:"


@lru_cache(maxsize=4)
def _keys(secret: str) -> tuple[AESGCM, bytes]:
    master = hashlib.sha256(secret.encode()).digest()
    enc_key = hmac.new(master, b"kehu-encrypt", hashlib.sha256).digest()
    index_key = hmac.new(master, b"kehu-blind-index", hashlib.sha256).digest()
    return AESGCM(enc_key), index_key


@lru_cache(maxsize=4)
def _audit_key(secret: str) -> bytes:
    return hmac.new(hashlib.sha256(secret.encode()).digest(), b"kehu-audit", hashlib.sha256).digest()


def encrypt(plaintext: str) -> str:
    aead, _ = _keys(settings.KEHU_DATA_KEY)
    nonce = os.urandom(12)
    sealed = aead.encrypt(nonce, plaintext.encode(), None)
    return _PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode()


def decrypt(token: str) -> str:
    if not token.startswith(_PREFIX):
        raise ValueError("not an encrypted kehu value")
    aead, _ = _keys(settings.KEHU_DATA_KEY)
    raw = base64.urlsafe_b64decode(token[len(_PREFIX):])
    return aead.decrypt(raw[:12], raw[12:], None).decode()


def blind_index(value: str) -> str:
    """A keyed hash of an already normalised value, for equality search; '' for no value."""
    if not value:
        return ""
    _, index_key = _keys(settings.KEHU_DATA_KEY)
    return hmac.new(index_key, value.encode(), hashlib.sha256).hexdigest()[:40]


def audit_hash(value: str) -> str:
    """A keyed hash of a normalised contact value for the audit log: the same value gives the same hash (so an
    erase can find and redact the entries), but it cannot be joined with the customers' search hashes."""
    if not value:
        return ""
    return hmac.new(_audit_key(settings.KEHU_DATA_KEY), value.encode(), hashlib.sha256).hexdigest()[:40]


def key_fingerprint(secret: str | None = None) -> str:
    """A short name for a data key (16 hex digits): tells two keys apart, reveals nothing of either."""
    master = hashlib.sha256((secret if secret is not None else settings.KEHU_DATA_KEY).encode()).digest()
    return hmac.new(master, b"kehu-key-fingerprint", hashlib.sha256).hexdigest()[:16]


# -- Files kept for a while (a background export until it is downloaded): AES-256-GCM in chunks -------------------

_SEALED = b"KEHU-SEALED\x01"
_CHUNK = 1 << 20


def _file_key(purpose: bytes) -> AESGCM:
    master = hashlib.sha256(settings.KEHU_DATA_KEY.encode()).digest()
    return AESGCM(hmac.new(master, b"kehu-file-" + purpose, hashlib.sha256).digest())


def seal_file(plain, target, purpose: bytes) -> None:
    """Encrypt the file `plain` into `target` (created 0600) with a key derived from the data key for `purpose`.
    Each chunk's nonce is the file's nonce and the chunk number, and the last chunk is marked in the authenticated
    data, so a truncated, reordered or altered file does not open."""
    aead, file_nonce = _file_key(purpose), os.urandom(8)
    header = _SEALED + file_nonce
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with open(plain, "rb") as src, os.fdopen(fd, "wb") as out:
        out.write(header)
        pending, number = src.read(_CHUNK), 0
        while True:
            following = src.read(_CHUNK)
            sealed = aead.encrypt(file_nonce + number.to_bytes(4, "big"), pending,
                                  header + (b"C" if following else b"L"))
            out.write(len(sealed).to_bytes(4, "big") + sealed)
            if not following:
                return
            pending, number = following, number + 1


def open_sealed(path, purpose: bytes):
    """The plain bytes of a file written by `seal_file`, chunk by chunk; cryptography's InvalidTag (or ValueError)
    if it is not intact."""
    aead = _file_key(purpose)
    with open(path, "rb") as src:
        header = src.read(len(_SEALED) + 8)
        if not header.startswith(_SEALED) or len(header) < len(_SEALED) + 8:
            raise ValueError("not a sealed kehu file")
        file_nonce, number, last = header[len(_SEALED):], 0, False
        while not last:
            size = src.read(4)
            if len(size) < 4:
                raise ValueError("sealed kehu file is truncated")
            sealed = src.read(int.from_bytes(size, "big"))
            last = not src.peek(1)
            yield aead.decrypt(file_nonce + number.to_bytes(4, "big"), sealed, header + (b"L" if last else b"C"))
            number += 1
