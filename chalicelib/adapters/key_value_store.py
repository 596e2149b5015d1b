"""The calls deployd makes on CloudFront's KeyValueStore (the data-plane API, `cloudfront-keyvaluestore`): read the
ETag and the keys, and write keys with IfMatch, the compare-and-set services.route_mirror builds on."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import NamedTuple

from botocore.exceptions import ClientError

from chalicelib.aws import client
from chalicelib.observability import logger
from chalicelib.settings import get_settings

# KeyValueStore limits (CloudFront quotas): keys up to 512 bytes, values up to 1 KB, and one UpdateKeys
# request carries at most 50 keys. Labels and "deployments/<id>/" prefixes are far below the first two.
MAX_KEY_BYTES = 512
MAX_VALUE_BYTES = 1024
MAX_KEYS_PER_UPDATE = 50
LIST_PAGE_SIZE = 50  # ListKeys' largest page

CONFLICT = "ConflictException"
_NOT_FOUND = "ResourceNotFoundException"


class Change(NamedTuple):
    """One key made to agree with its row: put `value`, or delete the key when `value` is None."""

    host: str
    value: str | None


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def fits_key(host: str) -> bool:
    return 0 < len(host.encode()) <= MAX_KEY_BYTES


def fits_value(value: str) -> bool:
    return 0 < len(value.encode()) <= MAX_VALUE_BYTES


class Store:
    """One KeyValueStore, by its ARN."""

    def __init__(self, arn: str) -> None:
        self.arn = arn
        self.api = client("cloudfront-keyvaluestore")

    def etag(self) -> str:
        return str(self.api.describe_key_value_store(KvsARN=self.arn)["ETag"])

    def items(self) -> Iterator[tuple[str, str]]:
        token: str | None = None
        while True:
            page = self.api.list_keys(
                KvsARN=self.arn, MaxResults=LIST_PAGE_SIZE, **({"NextToken": token} if token else {})
            )
            for item in page.get("Items", []):
                yield item["Key"], item["Value"]
            token = page.get("NextToken")
            if not token:
                return

    def write_one(self, change: Change, etag: str) -> str:
        """Put or delete one key; the store's ETag after the write. Deleting an absent key is no change."""
        if change.value is not None:
            return str(self.api.put_key(KvsARN=self.arn, Key=change.host, Value=change.value, IfMatch=etag)["ETag"])
        try:
            return str(self.api.delete_key(KvsARN=self.arn, Key=change.host, IfMatch=etag)["ETag"])
        except ClientError as exc:
            # The store itself exists (its ETag was just described), so what is not found is the key.
            if error_code(exc) != _NOT_FOUND:
                raise
            return etag  # nothing was written, so the ETag has not moved

    def write_many(self, changes: Sequence[Change], etag: str) -> str:
        """One all-or-nothing UpdateKeys. Its reference does not say whether a delete of an absent key
        refuses the request; if the request is refused for anything but a conflict, the keys are written
        one by one instead, where an absent key is known to be harmless."""
        puts = [{"Key": c.host, "Value": c.value} for c in changes if c.value is not None]
        deletes = [{"Key": c.host} for c in changes if c.value is None]
        try:
            return str(self.api.update_keys(KvsARN=self.arn, IfMatch=etag, Puts=puts, Deletes=deletes)["ETag"])
        except ClientError as exc:
            if error_code(exc) == CONFLICT:
                raise
            logger.info("UpdateKeys refused; writing keys one by one", extra={"error": error_code(exc)})
        for change in changes:
            etag = self.write_one(change, etag)
        return etag


def store() -> Store:
    return Store(get_settings().sites_kvs_arn)


def apply(store: Store, etag: str, changes: Sequence[Change]) -> None:
    """Write `changes`, each write's IfMatch the ETag the previous one returned: the whole sequence lands
    only if nobody else wrote since `etag` was read. Raises ClientError(ConflictException) otherwise."""
    if len(changes) == 1:
        store.write_one(changes[0], etag)
        return
    for start in range(0, len(changes), MAX_KEYS_PER_UPDATE):
        etag = store.write_many(changes[start : start + MAX_KEYS_PER_UPDATE], etag)
