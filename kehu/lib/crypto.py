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
