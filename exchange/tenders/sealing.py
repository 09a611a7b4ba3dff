"""Envelope encryption of sealed proposals (AES-GCM).

Each tender has its own X25519 key pair, made at the announcement: the public half is
stored as is, the private half only wrapped (AES-GCM) by a key-encryption key derived from
the exchange's secret. A proposal is encrypted to the tender's public key (an ephemeral
X25519 agreement, HKDF, AES-GCM), so sealing needs no secret; the service unwraps the
private key only once the deadline has passed (`open_key` refuses earlier). Threat model:
someone holding both the server secret and the database could decrypt early; no API,
page, feed, log line or error message of the exchange ever does.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from datetime import datetime

import msgspec
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from matching_core.sealed_types import proposal_commitment

_NONCE = 12


class SealedContent(msgspec.Struct, frozen=True):
    price: int
    technical: str
    nonce: str


class StillSealed(Exception):
    """The deadline has not passed: the tender's key stays wrapped."""


class CannotOpen(Exception):
    """A key or a proposal that this secret and label did not seal (another exchange's secret,
    EXCHANGE_SECRET changed since the announcement, another procedure's label, altered bytes)."""


def _derive(secret: str, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"tech-exchange/tenders/v1", info=purpose).derive(
        secret.encode())


def documents_digest(technical: str) -> str:
    return hashlib.sha256(technical.encode("utf-8")).hexdigest()


def commitment_of(bidder: str, content: SealedContent) -> str:
    return proposal_commitment(bidder, content.price, documents_digest(content.technical), content.nonce)


class Sealer:
    """`label` keeps each procedure's keys apart: a tender's ("tender") cannot open a quote
    round's ("quote-round") of the same id, nor the other way round."""

    def __init__(self, secret: str, label: str = "tender") -> None:
        self._label = label
        self._kek = AESGCM(_derive(secret, b"key-encryption-key"))
        self._mac_key = _derive(secret, b"idempotency-mac")

    def new_tender_keys(self, tender_id: int) -> tuple[bytes, bytes]:
        """(public key, wrapped private key): the private key is never stored in the clear."""
        private = X25519PrivateKey.generate()
        public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        raw = private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        nonce = os.urandom(_NONCE)
        return public, nonce + self._kek.encrypt(nonce, raw, _aad(tender_id, label=self._label))

    def open_key(self, tender_id: int, wrapped: bytes, deadline: datetime, now: datetime) -> bytes:
        """The tender's private key, released only at or after the deadline."""
        if now < deadline:
            raise StillSealed(f"tender {tender_id} is sealed until its deadline")
        try:
            return self._kek.decrypt(wrapped[:_NONCE], wrapped[_NONCE:], _aad(tender_id, label=self._label))
        except InvalidTag:
            raise CannotOpen(f"the exchange's secret does not unwrap the key of {self._label} {tender_id} "
                             "(was EXCHANGE_SECRET changed since it was announced?)") from None

    @staticmethod
    def seal(tender_id: int, public: bytes, bidder: str, price: int, technical: str,
             label: str = "tender") -> tuple[SealedContent, bytes]:
        """The proposal with a fresh commitment nonce, and its ciphertext to the tender's public key."""
        content = SealedContent(price, technical, secrets.token_hex(16))
        ephemeral = X25519PrivateKey.generate()
        shared = ephemeral.exchange(X25519PublicKey.from_public_bytes(public))
        ephemeral_public = ephemeral.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        key = _content_key(shared, tender_id, bidder, label)
        nonce = os.urandom(_NONCE)
        body = AESGCM(key).encrypt(nonce, msgspec.msgpack.encode(content), _aad(tender_id, bidder, label))
        return content, ephemeral_public + nonce + body

    @staticmethod
    def unseal(tender_id: int, private: bytes, bidder: str, sealed: bytes, label: str = "tender") -> SealedContent:
        ephemeral_public, nonce, body = sealed[:32], sealed[32:32 + _NONCE], sealed[32 + _NONCE:]
        shared = X25519PrivateKey.from_private_bytes(private).exchange(
            X25519PublicKey.from_public_bytes(ephemeral_public))
        try:
            plain = AESGCM(_content_key(shared, tender_id, bidder, label)).decrypt(
                nonce, body, _aad(tender_id, bidder, label))
        except InvalidTag:
            raise CannotOpen(f"the proposal of bidder {bidder} was not sealed to {label} {tender_id}") from None
        return msgspec.msgpack.decode(plain, type=SealedContent)

    def request_mac(self, tender_id: int, bidder: str, price: int, technical: str) -> str:
        """Tells a retry with the same body from another body, without storing a guessable hash of the price."""
        parts: tuple[object, ...] = (tender_id, bidder, price, technical)
        payload = msgspec.msgpack.encode(parts if self._label == "tender" else (self._label, *parts))
        return hmac.new(self._mac_key, payload, hashlib.sha256).hexdigest()


def _content_key(shared: bytes, tender_id: int, bidder: str, label: str = "tender") -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_aad(tender_id, bidder, label)).derive(shared)


def _aad(tender_id: int, bidder: str = "", label: str = "tender") -> bytes:
    return f"{label}:{tender_id}:{bidder}".encode()
