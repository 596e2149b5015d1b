"""The embedded stack signs its SigV4 calls with botocore's own signer, as every function but two does on AWS.

On AWS, awscrt is only in the layer of the two functions that sign CloudFront KeyValueStore calls (SigV4A:
chalicelib.infra.function_resources.KEY_VALUE_STORE_SIGNERS), so the API and the workers sign SigV4 with botocore's
SigV4Auth. The embedded stack runs them all in one process where awscrt is installed, and botocore then signs every
call with awscrt's signer instead: a different code path, and a costlier one per call here (the request is copied
into awscrt's own types and back). SigV4A keeps awscrt's signers, the only ones botocore has.
"""

from __future__ import annotations

import threading

_lock = threading.Lock()
# botocore's SigV4 signers without awscrt (botocore.auth's own table when awscrt is absent).
_BOTOCORE_SIGV4 = {
    "v4": "SigV4Auth",
    "v4-query": "SigV4QueryAuth",
    "s3v4": "S3SigV4Auth",
    "s3v4-query": "S3SigV4QueryAuth",
}


def sign_sigv4_as_on_lambda() -> None:
    """Idempotent: botocore signs SigV4 (and S3's SigV4) with its own signers, SigV4A still with awscrt's."""
    from botocore import auth

    with _lock:
        for signature_version, signer in _BOTOCORE_SIGV4.items():
            auth.AUTH_TYPE_MAPS[signature_version] = getattr(auth, signer)
