"""The NAT/IGW tripwire (infra/modules/observability, rule nat_igw) fires on a real CreateNatGateway CloudTrail
event: its rendered pattern, as the dev plan has it, is put on the moto server's EventBridge with an SQS target,
and the event sample (tests/infra/data, the "AWS API Call via CloudTrail" shape EventBridge delivers from a trail)
is sent through it. Stock moto 5.2.5 has no TestEventPattern (an empty 200), so rule matching is exercised by
PutEvents, the same matcher. The trail itself comes from infra/bootstrap (tests/workflows/test_bootstrap.py)."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from .conftest import Emulated

SAMPLE = Path(__file__).parent / "data" / "cloudtrail_create_nat_gateway.json"
RULE = "module.observability.aws_cloudwatch_event_rule.nat_igw"


def rendered_pattern(plan: dict[str, Any]) -> dict[str, Any]:
    rc = next(r for r in plan["resource_changes"] if r["address"] == RULE)
    return dict(json.loads(rc["change"]["after"]["event_pattern"]))


class Bus:
    """One rule with the given pattern and an SQS target on the emulator; deliver() says whether an event matched."""

    def __init__(self, endpoint: str, pattern: dict[str, Any]) -> None:
        kw: dict[str, Any] = {"endpoint_url": endpoint, "region_name": "us-east-1",
                              "aws_access_key_id": "test", "aws_secret_access_key": "test"}  # fmt: skip
        self.events, self.sqs = boto3.client("events", **kw), boto3.client("sqs", **kw)
        name = f"tripwire-{uuid.uuid4().hex[:8]}"
        self.queue = self.sqs.create_queue(QueueName=name)["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=self.queue, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        self.events.put_rule(Name=name, EventPattern=json.dumps(pattern))
        self.events.put_targets(Rule=name, Targets=[{"Id": "q", "Arn": arn}])
        self.name = name

    def deliver(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        out = self.events.put_events(
            Entries=[{"Source": event["source"], "DetailType": event["detail-type"],
                      "Detail": json.dumps(event["detail"]), "Resources": event["resources"]}]
        )  # fmt: skip
        assert out["FailedEntryCount"] == 0, out
        msgs = self.sqs.receive_message(QueueUrl=self.queue, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        return [json.loads(m["Body"]) for m in msgs.get("Messages", [])]

    def close(self) -> None:
        self.events.remove_targets(Rule=self.name, Ids=["q"])
        self.events.delete_rule(Name=self.name)
        self.sqs.delete_queue(QueueUrl=self.queue)


@pytest.fixture
def sample() -> dict[str, Any]:
    return dict(json.loads(SAMPLE.read_text()))


@pytest.fixture
def tripwire(emulated_dev: Emulated) -> Iterator[Bus]:
    bus = Bus(emulated_dev.moto.url, rendered_pattern(emulated_dev.plan()))
    yield bus
    bus.close()


def test_pattern_is_the_cloudtrail_api_call_shape(dev_plan: dict[str, Any]) -> None:
    pattern = rendered_pattern(dev_plan)
    assert pattern["source"] == ["aws.ec2"] and pattern["detail-type"] == ["AWS API Call via CloudTrail"]
    assert pattern["detail"]["eventSource"] == ["ec2.amazonaws.com"]
    assert {"CreateNatGateway", "CreateInternetGateway", "AttachInternetGateway"} <= set(
        pattern["detail"]["eventName"]
    )


def test_a_real_create_nat_gateway_event_fires_the_tripwire(tripwire: Bus, sample: dict[str, Any]) -> None:
    got = tripwire.deliver(sample)
    assert len(got) == 1, got
    assert got[0]["detail"]["eventName"] == "CreateNatGateway"
    assert got[0]["detail"]["responseElements"]["CreateNatGatewayResponse"]["natGateway"]["natGatewayId"]


@pytest.mark.parametrize(
    "name", ["CreateInternetGateway", "AttachInternetGateway", "CreateEgressOnlyInternetGateway"]
)
def test_internet_gateway_calls_fire_it_too(tripwire: Bus, sample: dict[str, Any], name: str) -> None:
    event = copy.deepcopy(sample)
    event["detail"]["eventName"] = name
    assert len(tripwire.deliver(event)) == 1


@pytest.mark.parametrize(
    "change",
    [
        {"eventName": "DeleteNatGateway"},  # tearing one down is not the alarm
        {"eventName": "DescribeNatGateways"},
        {"eventSource": "elasticloadbalancing.amazonaws.com"},
    ],
)
def test_other_calls_do_not_fire(tripwire: Bus, sample: dict[str, Any], change: dict[str, str]) -> None:
    event = copy.deepcopy(sample)
    event["detail"].update(change)
    assert tripwire.deliver(event) == []


def test_a_wrong_pattern_would_miss_the_sample(emulated_dev: Emulated, sample: dict[str, Any]) -> None:
    """The check can fail: patterns that look plausible but do not match what CloudTrail delivers."""
    good = rendered_pattern(emulated_dev.plan())
    for bad in (
        {**good, "detail-type": ["AWS API Call"]},
        {**good, "source": ["aws.cloudtrail"]},
        {**good, "detail": {**good["detail"], "eventSource": ["ec2"]}},
    ):
        bus = Bus(emulated_dev.moto.url, bad)
        try:
            assert bus.deliver(sample) == [], bad
        finally:
            bus.close()
