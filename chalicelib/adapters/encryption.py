"""Secrets deployd must read back (a Slack bot token) kept encrypted under a KMS key of the catalogue.

The encryption context binds a ciphertext to what it belongs to: a token copied onto another organization's
item does not decrypt there. In the embedded stack the key is moto's, so the code path is the one AWS runs.
"""

from __future__ import annotations

import base64

from chalicelib.aws import client
from chalicelib.infra.resources import EncryptionKey
from chalicelib.settings import get_settings


def _key_id(key: EncryptionKey) -> str:
    return key.alias(get_settings().resource_name(key.logical))


def encrypt(key: EncryptionKey, plaintext: str, context: dict[str, str]) -> str:
    """The ciphertext of `plaintext` under `key`, as base64 text to store."""
    blob = client("kms").encrypt(KeyId=_key_id(key), Plaintext=plaintext.encode(), EncryptionContext=context)
    return base64.b64encode(blob["CiphertextBlob"]).decode()


def decrypt(key: EncryptionKey, ciphertext: str, context: dict[str, str]) -> str:
    """What `encrypt` was given, with the same key and context."""
    answer = client("kms").decrypt(
        KeyId=_key_id(key), CiphertextBlob=base64.b64decode(ciphertext), EncryptionContext=context
    )
    return bytes(answer["Plaintext"]).decode()
