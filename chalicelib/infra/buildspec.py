"""The buildspec every deployd build runs on CodeBuild: the project's default, and the same for every build.

Everything specific to one build arrives as environment variables in StartBuild's
environmentVariablesOverride (see chalicelib.adapters.codebuild), so the project never changes per
deployment. The steps mirror LocalBuildRunner: check out the exact commit, run the build command with
/bin/sh, upload the output directory. The upload goes through the presigned POST the build worker signed for
this build (chalicelib.infra.build_upload, piped into python3), never through the build's role, which has
no S3 access at all: the build-events handler promotes the staged files once the build succeeded.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

# Names of the variables StartBuild passes (the build command sees them too, as it does locally).
# An empty value is not passed, so the buildspec treats unset and empty alike.
BUILD_VARIABLES = (
    "CI",
    "DEPLOYD",
    "DEPLOYD_DEPLOYMENT_ID",
    "DEPLOYD_REPO_URL",
    "DEPLOYD_COMMIT_SHA",
    "DEPLOYD_BRANCH",
    "DEPLOYD_BUILD_COMMAND",
    "DEPLOYD_OUTPUT_DIR",
    # The build's own upload target (chalicelib.adapters.build_output) and deployd's limits on the output.
    "DEPLOYD_UPLOAD_URL",
    "DEPLOYD_UPLOAD_FIELDS",
    "DEPLOYD_UPLOAD_PREFIX",
    "DEPLOYD_MAX_OUTPUT_FILES",
    "DEPLOYD_MAX_OUTPUT_BYTES",
)

WORKDIR = "/tmp/deployd/src"

_CHECKOUT = [
    'echo "==> Cloning $DEPLOYD_REPO_URL at $DEPLOYD_COMMIT_SHA ($DEPLOYD_BRANCH)"',
    f"mkdir -p {WORKDIR} && cd {WORKDIR} && git init -q",
    f'cd {WORKDIR} && git fetch -q --depth 1 "$DEPLOYD_REPO_URL" "$DEPLOYD_COMMIT_SHA"',
    f"cd {WORKDIR} && git checkout -q --detach FETCH_HEAD",
]
_BUILD = [
    f'cd {WORKDIR} && if [ -n "$DEPLOYD_BUILD_COMMAND" ]; then '
    'echo "==> Running build command: $DEPLOYD_BUILD_COMMAND"; /bin/sh -c "$DEPLOYD_BUILD_COMMAND"; '
    'else echo "==> No build command: publishing the files as they are"; fi',
]
# The upload script travels inside the buildspec as a variable (base64): the project has no source to ship it
# in, and CodeBuild logs each command it runs, so the command only names the variable.
UPLOAD_SCRIPT = Path(__file__).with_name("build_upload.py").read_text(encoding="utf-8")
SCRIPT_VARIABLE = "DEPLOYD_UPLOAD_SCRIPT"
UPLOAD_COMMAND = (
    'echo "==> Uploading $DEPLOYD_OUTPUT_DIR" && '
    f'echo "${SCRIPT_VARIABLE}" | base64 -d | python3 - "$DEPLOYD_OUTPUT_DIR"'
)
_UPLOAD = [
    # post_build runs after a failed build too: upload only what a successful build produced.
    'test "$CODEBUILD_BUILD_SUCCEEDING" = 1',
    f'cd {WORKDIR} && test -d "$DEPLOYD_OUTPUT_DIR" || '
    "{ echo \"output directory '$DEPLOYD_OUTPUT_DIR' was not found after the build\"; exit 1; }",
    f"cd {WORKDIR} && {UPLOAD_COMMAND}",
]

BUILDSPEC_DOCUMENT: dict[str, Any] = {
    "version": 0.2,
    "env": {
        "shell": "bash",
        "variables": {SCRIPT_VARIABLE: base64.b64encode(UPLOAD_SCRIPT.encode()).decode()},
    },
    "phases": {
        "pre_build": {"on-failure": "ABORT", "commands": _CHECKOUT},
        "build": {"on-failure": "ABORT", "commands": _BUILD},
        "post_build": {"commands": _UPLOAD},
    },
}

# JSON is YAML: CodeBuild reads it as it is.
BUILDSPEC = json.dumps(BUILDSPEC_DOCUMENT, indent=2)
