"""The routes table's stream consumer (Lambda `route_sync`): mirrors every changed route into CloudFront's
KeyValueStore. Powertools batch processing with partial batch failures, as for the SQS consumers.

Records carry keys only (KEYS_ONLY), and route_mirror writes each host's current row, so a record needs
nothing but its host and a retried, duplicated or reordered record is harmless. A batch's hosts are first
mirrored together (UpdateKeys, 50 keys a request); if that fails, each record mirrors its own host, so only
the records whose host cannot be mirrored are reported in batchItemFailures (Lambda retries the shard from
the first of them).

Without a KeyValueStore (`sites_kvs_arn` empty: the embedded stack, whose site server reads the routes table
itself) there is nothing to mirror: every record succeeds and nothing is called. On AWS the template always
sets the ARN; were it missing, the daily reconcile would fill the store once it is set. Each batch is counted
(route_mirror.count_changes), so that the hourly reconcile knows the routes table changed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalicelib.observability import logger
from chalicelib.services import route_mirror
from chalicelib.settings import get_settings

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord


def _raw_host(record: dict[str, Any]) -> str | None:
    """The host label of a raw stream record, None when the record is not one of the routes table's."""
    try:
        return str(record["dynamodb"]["Keys"]["host"]["S"])
    except (KeyError, TypeError):
        return None


def _host(record: DynamoDBRecord) -> str:
    host = _raw_host(record.raw_event)
    if host is None:
        raise ValueError(f"stream record {record.event_id} has no host key")
    return host


def consume(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

    records = event.get("Records", [])
    if not get_settings().sites_kvs_arn:
        logger.info("no KeyValueStore to mirror routes into", extra={"records": len(records)})
        return {"batchItemFailures": []}

    # Counted first: the hourly reconcile runs only after changes (route_mirror.reconcile_if_due).
    route_mirror.count_changes(len(records))
    # A mirror reads after every write of this batch happened, so one successful mirror of a host in this
    # invocation answers all of the batch's records for it.
    mirrored: set[str] = set()
    hosts = list(dict.fromkeys(host for host in map(_raw_host, records) if host is not None))
    if len(hosts) > 1:
        try:
            route_mirror.mirror(hosts)
            mirrored.update(hosts)
        except Exception:
            logger.exception("mirroring the batch failed; mirroring record by record", extra={"hosts": len(hosts)})

    def record_handler(record: DynamoDBRecord) -> None:
        host = _host(record)
        if host not in mirrored:
            route_mirror.mirror([host])
            mirrored.add(host)

    processor = BatchProcessor(event_type=EventType.DynamoDBStreams)
    response = process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
    return dict(response)
