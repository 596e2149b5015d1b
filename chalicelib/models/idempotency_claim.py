"""An Idempotency-Key's record as the restart sees it: Powertools' idempotency utility writes and reads the records
(chalicelib.adapters.idempotency_records); this model names only what a restart needs to release a claim whose
request was still running."""

from __future__ import annotations

from pynamodb.attributes import UnicodeAttribute
from pynamodb.models import Model

from chalicelib.infra.resources import IDEMPOTENCY
from chalicelib.models.base import table_meta


class IdempotencyClaim(Model):
    Meta = table_meta(IDEMPOTENCY.logical)

    id = UnicodeAttribute(hash_key=True)  # "request#<hash of the scope>" (idempotency_records.KEY_PREFIX)
    status = UnicodeAttribute(null=True)  # Powertools' STATUS_CONSTANTS: INPROGRESS until the work is done
