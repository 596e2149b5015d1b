"""What it takes to create the packaged SAM template in moto's CloudFormation, kept apart from the assertions.

`creatable` removes what moto cannot create (the SAM resources, types moto has no CloudFormation model for)
and everything that references them, and says why each resource went. `moto_honours_properties` makes
moto apply three properties of the template that its CloudFormation models accept but ignore, through the
same backend calls its APIs use, so the live resources show what the template declares.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

SAM_PREFIX = "AWS::Serverless::"
SAM_SECTIONS = ("Transform", "Globals")

# Types moto has a CloudFormation model for but that cannot be created from this template. None so far:
# add a type here (with the reason) when moto's create_stack fails on it, rather than editing the template.
UNCREATABLE: dict[str, str] = {}

# Values for the stack's parameters, as an operator would pass them. Parameters added later fall back to
# their Default, or to a value that satisfies their constraints (see parameter_values).
PARAMETER_VALUES = {
    "SitesDomain": "sites.example.com",
    "CertificateArn": "arn:aws:acm:us-east-1:123456789012:certificate/0c8a7e1d-2b3f-4c5d-9e6f-7a8b9c0d1e2f",
    "AdminToken": "adm_" + "x" * 40,
}


def moto_types() -> set[str]:
    """Resource types moto's CloudFormation can create (the models of every service it implements)."""
    from moto.cloudformation.parsing import get_model_map  # importing parsing imports every service's models

    return set(get_model_map())


def references(value: Any) -> set[str]:
    """Names a Ref, Fn::GetAtt or Fn::Sub anywhere inside value points at (resources, parameters, pseudo)."""
    if isinstance(value, list):
        return {name for item in value for name in references(item)}
    if not isinstance(value, dict):
        return set()
    found: set[str] = set()
    for key, inner in value.items():
        if key == "Ref" and isinstance(inner, str):
            found.add(inner)
        elif key == "Fn::GetAtt":
            found.add(inner[0] if isinstance(inner, list) else str(inner).split(".")[0])
        elif key == "Fn::Sub":
            text, variables = (inner, {}) if isinstance(inner, str) else (inner[0], inner[1])
            named = {n.split(".")[0] for n in re.findall(r"\$\{([^}]+)\}", text) if not n.startswith("!")}
            found |= (named - set(variables)) | references(variables)
        else:
            found |= references(inner)
    return found


def _depends_on(resource: dict[str, Any]) -> set[str]:
    depends = resource.get("DependsOn", [])
    return {depends} if isinstance(depends, str) else set(depends)


def creatable(template: dict[str, Any], supported: set[str]) -> tuple[dict[str, Any], dict[str, str]]:
    """The template without what moto cannot create, and {logical id: why it was dropped}.

    Unchanged otherwise: every resource that stays keeps its properties exactly as packaged.
    """
    resources: dict[str, Any] = template["Resources"]
    dropped: dict[str, str] = {}
    for name, resource in resources.items():
        kind = resource["Type"]
        if kind.startswith(SAM_PREFIX):
            dropped[name] = f"{kind}: moto does not run the SAM transform"
        elif kind in UNCREATABLE:
            dropped[name] = f"{kind}: {UNCREATABLE[kind]}"
        elif kind not in supported:
            dropped[name] = f"{kind}: moto's CloudFormation has no model for it"
    changed = True
    while changed:  # until no remaining resource references a dropped one, however indirectly
        changed = False
        for name, resource in resources.items():
            if name in dropped:
                continue
            gone = sorted((references(resource) | _depends_on(resource)) & set(dropped))
            if gone:
                dropped[name] = f"references {', '.join(gone)}"
                changed = True
    result = {key: copy.deepcopy(value) for key, value in template.items() if key not in SAM_SECTIONS}
    result["Resources"] = {name: copy.deepcopy(r) for name, r in resources.items() if name not in dropped}
    result["Outputs"] = {
        name: copy.deepcopy(output)
        for name, output in template.get("Outputs", {}).items()
        if not references(output) & set(dropped)
    }
    return result, dropped


def _value_for(name: str, declaration: dict[str, Any]) -> str:
    if "Default" in declaration:
        return str(declaration["Default"])
    if declaration.get("AllowedValues"):
        return str(declaration["AllowedValues"][0])
    if declaration.get("Type") == "Number":
        return str(declaration.get("MinValue", 1))
    if name.endswith("Arn"):
        return f"arn:aws:sns:us-east-1:123456789012:{name}"  # any well-formed ARN
    return "x" * max(int(declaration.get("MinLength", 1)), 1)


def parameter_values(template: dict[str, Any]) -> list[dict[str, str]]:
    declared: dict[str, Any] = template.get("Parameters", {})
    return [
        {"ParameterKey": name, "ParameterValue": PARAMETER_VALUES.get(name) or _value_for(name, declaration)}
        for name, declaration in declared.items()
    ]


def _substituted(properties: dict[str, Any]) -> dict[str, Any]:
    """DefinitionString with every ${Name} of DefinitionSubstitutions filled in, as CloudFormation does."""
    definition = properties["DefinitionString"]
    for name, value in properties.get("DefinitionSubstitutions", {}).items():
        definition = definition.replace("${" + name + "}", str(value))
    return {**properties, "DefinitionString": definition}


def _table_ttl(table: Any, properties: dict[str, Any], account_id: str, region_name: str) -> None:
    from moto.dynamodb.models import dynamodb_backends

    if "TimeToLiveSpecification" in properties:
        dynamodb_backends[account_id][region_name].update_time_to_live(
            table.name, properties["TimeToLiveSpecification"]
        )


def _bucket_properties(bucket: Any, properties: dict[str, Any], account_id: str, region_name: str) -> None:
    from moto.s3.models import s3_backends
    from moto.utilities.utils import get_partition

    backend = s3_backends[account_id][get_partition(region_name)]
    if "PublicAccessBlockConfiguration" in properties:
        backend.put_public_access_block(bucket.name, properties["PublicAccessBlockConfiguration"])
    if "LifecycleConfiguration" in properties:  # the rules in the S3 API's shape, as CloudFormation sends them
        rules = [
            {
                "ID": rule["Id"],
                "Filter": {"Prefix": rule["Prefix"]},
                "Status": rule["Status"],
                "Expiration": {"Days": rule["ExpirationInDays"]},
            }
            for rule in properties["LifecycleConfiguration"]["Rules"]
        ]
        backend.put_bucket_lifecycle_configuration(bucket.name, rules)


@contextmanager
def moto_honours_properties() -> Iterator[None]:
    """While open, moto's CloudFormation applies the properties below instead of ignoring them (moto 5.2):

    - AWS::DynamoDB::Table TimeToLiveSpecification (UpdateTimeToLive),
    - AWS::S3::Bucket PublicAccessBlockConfiguration (PutPublicAccessBlock) and LifecycleConfiguration's
      prefix expirations (PutBucketLifecycleConfiguration),
    - AWS::StepFunctions::StateMachine DefinitionSubstitutions (filled into DefinitionString before creation).
    """
    from moto.dynamodb.models.table import Table
    from moto.s3.models import FakeBucket
    from moto.stepfunctions.models import StateMachine

    def then(model: Any, apply: Any) -> classmethod[Any, ..., Any]:
        original = model.create_from_cloudformation_json

        def create(cls: Any, name: str, cfn: dict[str, Any], account_id: str, region_name: str, **kw: Any) -> Any:
            resource = original(name, cfn, account_id, region_name, **kw)
            apply(resource, cfn.get("Properties", {}), account_id, region_name)
            return resource

        return classmethod(create)

    original_machine = StateMachine.create_from_cloudformation_json

    def create_machine(cls: Any, name: str, cfn: dict[str, Any], account_id: str, region_name: str, **kw: Any) -> Any:
        cfn = {**cfn, "Properties": _substituted(cfn["Properties"])}
        return original_machine(name, cfn, account_id, region_name, **kw)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Table, "create_from_cloudformation_json", then(Table, _table_ttl))
        patch.setattr(FakeBucket, "create_from_cloudformation_json", then(FakeBucket, _bucket_properties))
        patch.setattr(StateMachine, "create_from_cloudformation_json", classmethod(create_machine))
        yield
