"""The CodeBuild project builds run in on AWS, with its log group, generated from the catalogue's BuildProject.

The project is the same for every build (chalicelib.infra.buildspec): StartBuild passes what is specific to
one build as environment variables. Its role is in chalicelib.infra.iam with every other policy.
"""

from __future__ import annotations

from typing import Any

from chalicelib.infra.buildspec import BUILDSPEC
from chalicelib.infra.resources import BuildProject
from chalicelib.infra.template import logical_id


def project_id(project: BuildProject) -> str:
    return logical_id(project.logical)


def log_group_id(project: BuildProject) -> str:
    return logical_id(project.logical, "LogGroup")


def role_id(project: BuildProject) -> str:
    return logical_id(project.logical, "Role")


def project_name(project: BuildProject, prefix: str) -> str:
    """Fixed, like the SQS consumers' queues: app.py's event pattern names the project when it is imported."""
    return f"{prefix}-{project.logical}"


def project_arn(project: BuildProject, prefix: str) -> dict[str, Any]:
    """The project's ARN from its fixed name, for places that must not depend on the project (its own role)."""
    name = project_name(project, prefix)
    return {"Fn::Sub": f"arn:${{AWS::Partition}}:codebuild:${{AWS::Region}}:${{AWS::AccountId}}:project/{name}"}


def build_project_resources(project: BuildProject, prefix: str) -> dict[str, Any]:
    name = project_name(project, prefix)
    return {
        log_group_id(project): {
            "Type": "AWS::Logs::LogGroup",
            "DeletionPolicy": "Delete",
            "UpdateReplacePolicy": "Delete",
            "Properties": {
                "LogGroupName": f"/aws/codebuild/{name}",
                "RetentionInDays": project.log_retention_days,
            },
        },
        project_id(project): {
            "Type": "AWS::CodeBuild::Project",
            "Properties": {
                "Name": name,
                "Description": "deployd builds: one build per deployment, checked out with git over HTTPS",
                "ServiceRole": {"Fn::GetAtt": [role_id(project), "Arn"]},
                # The build fetches the repository itself (git over HTTPS, see buildspec): no CodeBuild source.
                "Source": {"Type": "NO_SOURCE", "BuildSpec": BUILDSPEC},
                "Artifacts": {"Type": "NO_ARTIFACTS"},
                "Environment": {
                    "Type": "LINUX_CONTAINER",
                    "Image": project.image,
                    "ComputeType": project.compute_type,
                    "PrivilegedMode": False,
                },
                "LogsConfig": {
                    "CloudWatchLogs": {"Status": "ENABLED", "GroupName": {"Ref": log_group_id(project)}},
                    "S3Logs": {"Status": "DISABLED"},
                },
            },
        },
    }
