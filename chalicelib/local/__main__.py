"""`python -m chalicelib.local` (what `make run` runs): start the embedded stack and print how to use it."""

from __future__ import annotations

import signal
import sys
import threading

from chalicelib.local.snapshots import DataDirectoryInUse, SnapshotUnreadable
from chalicelib.local.stack import EmbeddedStack, StackConfig

WALKTHROUGH = """
deployd is running on this machine (embedded stack: moto as the local AWS).

  API          {api}
  Sites        {sites}/<site>/
  Admin token  {token}
  Local AWS    {aws} (moto; key {key_id}, secret {secret})

Try it (a full walkthrough is in README.md):

  export API={api} ADMIN={token}
  curl -s -X POST $API/api/v1/admin/orgs -H "Authorization: Bearer $ADMIN" \\
       -H 'Content-Type: application/json' -d '{{"slug": "acme", "plan": "pro"}}'
  KEY=$(curl -s -X POST $API/api/v1/admin/orgs/acme/keys -H "Authorization: Bearer $ADMIN" \\
        | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["token"])')
  curl -s -X POST $API/api/v1/public/projects -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \\
       -d '{{"name": "site", "repo_url": "/path/to/a/git/repo", "build_command": "make", "output_dir": "dist"}}'
  curl -s -X POST $API/api/v1/public/projects/1/deployments -H "Authorization: Bearer $KEY" -d '{{}}'

{keeping} Ctrl-C to stop.
"""
KEPT = """Data directory {path}: everything is kept there across restarts (DEPLOYD_DATA_DIR moves it).
Stopping ends every running build; its deployment fails as "interrupted: deployd restarted"."""
IN_MEMORY = """Everything lives in memory (DEPLOYD_DATA_DIR=memory): stopping this process forgets all of it and ends
every running build."""


def main() -> int:
    config = StackConfig.from_environment()
    stack = EmbeddedStack(config)
    try:
        stack.start()
    except (SnapshotUnreadable, DataDirectoryInUse) as exc:
        print(exc, file=sys.stderr, flush=True)
        stack.stop()
        return 2
    walkthrough = WALKTHROUGH.format(
        api=stack.api_url,
        sites=stack.sites_url,
        token=stack.admin_token,
        aws=f"http://127.0.0.1:{stack.moto_port}",
        key_id=stack.aws_access_key_id,
        secret=stack.aws_secret_access_key,
        keeping=KEPT.format(path=config.data_dir) if config.data_dir is not None else IN_MEMORY,
    )
    print(walkthrough, flush=True)
    stopped = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopped.set())
    while not stopped.wait(0.5):  # waking now and then runs a handler whose signal reached another thread
        pass
    stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
