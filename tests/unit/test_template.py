"""The CloudFormation data plane is generated from the same catalogue the embedded stack provisions from."""

from __future__ import annotations

import json
import re

from chalicelib.infra.resources import CATALOGUE
from chalicelib.infra.template import data_plane, logical_id
from chalicelib.local.provision import table_request
from chalicelib.settings import get_settings


def test_every_table_has_the_same_keys_and_indexes_as_the_embedded_stack() -> None:
    resources = data_plane()
    for table in CATALOGUE.tables:
        properties = resources[logical_id(table.logical, "Table")]["Properties"]
        embedded = table_request(table, get_settings())
        assert properties["KeySchema"] == embedded["KeySchema"]
        assert properties["AttributeDefinitions"] == embedded["AttributeDefinitions"]
        assert properties.get("GlobalSecondaryIndexes") == embedded.get("GlobalSecondaryIndexes")
        if table.ttl_attribute:
            assert properties["TimeToLiveSpecification"] == {"AttributeName": table.ttl_attribute, "Enabled": True}


def test_every_queue_has_a_dead_letter_queue() -> None:
    resources = data_plane()
    for queue in CATALOGUE.queues:
        redrive = resources[logical_id(queue.logical, "Queue")]["Properties"]["RedrivePolicy"]
        dlq = logical_id(queue.dead_letter_logical, "Queue")
        assert redrive["deadLetterTargetArn"] == {"Fn::GetAtt": [dlq, "Arn"]}
        assert resources[dlq]["Type"] == "AWS::SQS::Queue"


def test_the_state_machine_substitutes_every_placeholder_with_a_resource_of_the_template() -> None:
    resources = data_plane()
    machine = resources["DeploymentPipeline"]["Properties"]
    placeholders = set(re.findall(r"\$\{(\w+)\}", machine["DefinitionString"]))
    assert placeholders == set(machine["DefinitionSubstitutions"])
    for reference in machine["DefinitionSubstitutions"].values():
        assert reference["Ref"] in resources
    json.loads(machine["DefinitionString"])  # valid JSON before substitution


def test_buckets_are_private_and_encrypted() -> None:
    resources = data_plane()
    for bucket in CATALOGUE.buckets:
        properties = resources[logical_id(bucket.logical, "Bucket")]["Properties"]
        assert all(properties["PublicAccessBlockConfiguration"].values())
        assert properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]
