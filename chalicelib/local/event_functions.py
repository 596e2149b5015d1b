"""`python -m chalicelib.local.event_functions`: the embedded stack's event side, in a process of its own.

On AWS the deployments stream's consumer (`deployment_events`), the webhook delivery function and the Slack
notifications function run in Lambda functions of their own, and their work never competes with the pipeline's.
In one Python process it would: every signature, POST and record of a delivery holds the interpreter lock the
pipeline's threads need. So the embedded stack runs these event sources here, beside it: the same worker
threads (chalicelib.local.workers) calling the same handlers app.py registers, against the stack's moto
endpoint, with the stack's environment.

The stack starts this process after provisioning and waits for "ready" on the file descriptor named by
DEPLOYD_READY_FD (written once the stream's position is taken, so no event made after start-up is missed); the
process runs until its standard input closes (the stack stopping, or dying).
"""

from __future__ import annotations

import os
import signal
import sys


def main() -> int:
    # Ctrl-C in `make run` reaches the whole process group: the stack stops this process by closing its input.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    import app as app_module
    from chalicelib.aws import client, queue_url
    from chalicelib.infra.resources import DEPLOYMENTS, SLACK_NOTIFY_QUEUE, WEBHOOK_QUEUE
    from chalicelib.local.workers import QueueWorker, StreamWorker, sqs_worker
    from chalicelib.settings import get_settings

    settings = get_settings()
    table = client("dynamodb").describe_table(TableName=settings.resource_name(DEPLOYMENTS.logical))["Table"]
    workers: list[StreamWorker | QueueWorker] = [
        StreamWorker(
            client("dynamodbstreams"),
            table["LatestStreamArn"],
            app_module.app.handler_map["deployment_events"],
            f"{DEPLOYMENTS.logical}-stream-consumer",
            settings.region,
        ),
        sqs_worker(app_module, client("sqs"), queue_url(WEBHOOK_QUEUE.logical), "webhook_delivery", 4, settings.region),
        sqs_worker(
            app_module, client("sqs"), queue_url(SLACK_NOTIFY_QUEUE.logical), "slack_notifications", 2, settings.region
        ),
    ]
    for worker in workers:
        worker.start()
    ready = int(os.environ["DEPLOYD_READY_FD"])
    os.write(ready, b"ready\n")
    os.close(ready)
    sys.stdin.buffer.read()  # until the stack closes our standard input
    for worker in workers:
        worker.stop()
    for worker in workers:
        worker.join(timeout=5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
