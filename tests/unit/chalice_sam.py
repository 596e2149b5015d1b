"""The stack as `make package STAGE=...` writes it (Chalice's SAM template with the merge template merged in),
made without building the 20 MB deployment package, so unit tests can read the real thing in a second.

`python -m tests.unit.chalice_sam STAGE` prints it. It runs as its own process, like `chalice package`: Chalice
imports app.py with the stage's environment variables, which an import inside the test process (already
configured for the tests) would not see. The steps are chalice.package's own, with the deployment package
step replaced by one that only names the zip.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"


def _template(stage: str) -> dict[str, Any]:
    import botocore.session
    from chalice.awsclient import TypedAWSClient
    from chalice.cli.factory import CLIFactory
    from chalice.deploy.appgraph import ApplicationGraphBuilder, DependencyBuilder
    from chalice.deploy.deployer import (
        BaseDeployStep,
        BuildStage,
        InjectDefaults,
        LambdaEventSourcePolicyInjector,
        PolicyGenerator,
        SwaggerBuilder,
        WebsocketPolicyInjector,
    )
    from chalice.deploy.swagger import CFNSwaggerGenerator
    from chalice.package import PackageOptions, ResourceBuilder, SAMTemplateGenerator, TemplateDeepMerger
    from chalice.policy import AppPolicyGenerator
    from chalice.utils import OSUtils

    from chalicelib.infra.functions import functions_of
    from chalicelib.infra.package import merge_template

    class NamesTheZip(BaseDeployStep):  # type: ignore[misc]
        def handle_deploymentpackage(self, config: Any, resource: Any) -> None:
            resource.filename = "./deployment.zip"

    osutils = OSUtils()
    config = CLIFactory(project_dir=str(ROOT), environ=os.environ).create_config_obj(chalice_stage_name=stage)
    steps = [
        InjectDefaults(),
        NamesTheZip(),
        PolicyGenerator(policy_gen=AppPolicyGenerator(osutils=osutils), osutils=osutils),
        SwaggerBuilder(swagger_generator=CFNSwaggerGenerator()),
        LambdaEventSourcePolicyInjector(),
        WebsocketPolicyInjector(),
    ]
    builder = ResourceBuilder(ApplicationGraphBuilder(), DependencyBuilder(), BuildStage(steps=steps))
    resources = builder.construct_resources(config, stage)
    options = PackageOptions(TypedAWSClient(botocore.session.get_session()))
    generated = SAMTemplateGenerator(config, options).generate(resources)
    merge = merge_template(stage, functions=functions_of(config.chalice_app))
    merged: dict[str, Any] = TemplateDeepMerger().merge(merge, generated)
    return merged


def packaged_template(stage: str) -> dict[str, Any]:
    """The merged template of `stage`, from a fresh process with none of the test suite's AWS or deployd variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DEPLOYD_"))}
    env["AWS_DEFAULT_REGION"] = REGION
    result = subprocess.run(
        [sys.executable, "-m", "tests.unit.chalice_sam", stage],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    template: dict[str, Any] = json.loads(result.stdout)
    return template


if __name__ == "__main__":
    print(json.dumps(_template(sys.argv[1]), sort_keys=True))
