"""The buildspec every deployd build runs on CodeBuild: the project's default, and the same for every build.

Everything specific to one build arrives as environment variables in StartBuild's
environmentVariablesOverride (see chalicelib.pipeline.codebuild), so the project never changes per
deployment. The steps mirror LocalBuildRunner: check out the exact commit, run the build command with
/bin/sh, upload the output directory under the deployment's artifact prefix in the sites bucket.
"""

from __future__ import annotations

import json
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
    "DEPLOYD_ARTIFACT_BUCKET",
    "DEPLOYD_ARTIFACT_PREFIX",
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
_UPLOAD = [
    # post_build runs after a failed build too: upload only what a successful build produced.
    'test "$CODEBUILD_BUILD_SUCCEEDING" = 1',
    f'cd {WORKDIR} && test -d "$DEPLOYD_OUTPUT_DIR" || '
    "{ echo \"output directory '$DEPLOYD_OUTPUT_DIR' was not found after the build\"; exit 1; }",
    f'cd {WORKDIR} && echo "==> Uploading $DEPLOYD_OUTPUT_DIR" && aws s3 cp --recursive --only-show-errors '
    '"$DEPLOYD_OUTPUT_DIR" "s3://$DEPLOYD_ARTIFACT_BUCKET/$DEPLOYD_ARTIFACT_PREFIX"',
]

BUILDSPEC_DOCUMENT: dict[str, Any] = {
    "version": 0.2,
    "env": {"shell": "bash"},
    "phases": {
        "pre_build": {"on-failure": "ABORT", "commands": _CHECKOUT},
        "build": {"on-failure": "ABORT", "commands": _BUILD},
        "post_build": {"commands": _UPLOAD},
    },
}

# JSON is YAML: CodeBuild reads it as it is.
BUILDSPEC = json.dumps(BUILDSPEC_DOCUMENT, indent=2)
