"""Every IAM policy a Terraform/OpenTofu plan renders, checked by parliament (offline lint) or by IAM Access
Analyzer's ValidatePolicy (needs an AWS session). Exit 1 on findings that fail, 2 on bad input.

    python iam_policies.py list PLAN.json
    python iam_policies.py parliament PLAN.json          # fails on parliament findings of severity HIGH/MEDIUM
    python iam_policies.py access-analyzer PLAN.json     # fails on ERROR and SECURITY_WARNING findings

Stdlib only, plus parliament or boto3 for their commands (requirements/tools.txt). Used by .github/workflows/
validate.yml and tests/infra/test_iam_policy_lint.py."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# resource type -> (attribute holding a policy JSON, Access Analyzer policy type)
POLICY_ATTRS: dict[str, tuple[str, str]] = {
    "aws_iam_role_policy": ("policy", "IDENTITY_POLICY"),
    "aws_iam_policy": ("policy", "IDENTITY_POLICY"),
    "aws_iam_user_policy": ("policy", "IDENTITY_POLICY"),
    "aws_iam_group_policy": ("policy", "IDENTITY_POLICY"),
    "aws_iam_role": ("assume_role_policy", "RESOURCE_POLICY"),
    "aws_s3_bucket_policy": ("policy", "RESOURCE_POLICY"),
    "aws_sns_topic_policy": ("policy", "RESOURCE_POLICY"),
    "aws_sqs_queue_policy": ("policy", "RESOURCE_POLICY"),
    "aws_kms_key": ("policy", "RESOURCE_POLICY"),
    "aws_vpc_endpoint": ("policy", "RESOURCE_POLICY"),
    "aws_secretsmanager_secret_policy": ("policy", "RESOURCE_POLICY"),
    "aws_ecr_repository_policy": ("policy", "RESOURCE_POLICY"),
    "aws_efs_file_system_policy": ("policy", "RESOURCE_POLICY"),
    "aws_cloudwatch_log_resource_policy": ("policy_document", "RESOURCE_POLICY"),
}
# Access Analyzer's validatePolicyResourceType for resource policies it knows by type
AA_RESOURCE_TYPE = {
    "aws_s3_bucket_policy": "AWS::S3::Bucket",
    "aws_iam_role": "AWS::IAM::AssumeRolePolicyDocument",
}
# parliament severities that fail the lint (LOW and INFO are not errors)
FAILING = {"CRITICAL", "HIGH", "MEDIUM"}
# Findings of parliament 1.6.4 that contradict AWS's Service Authorization Reference (its bundled IAM database
# predates them): (issue, text in the finding's detail, why it is wrong). Keep this list short and specific.
KNOWN_FALSE_POSITIVES = [
    # (issue, text in the finding's detail, text the policy must contain, why parliament is wrong)
    ("UNKNOWN_CONDITION_FOR_ACTION", "Unknown condition kms:ResourceAliases for action kms:", "kms:ResourceAliases",
     "kms:ResourceAliases applies to every KMS operation on a key (AWS KMS developer guide, condition keys)"),
    ("RESOURCE_MISMATCH", '"action": "s3:GetObjectAttributes"', "s3:GetObjectAttributes",
     "s3:GetObjectAttributes takes the object resource type (Service Authorization Reference, Amazon S3)"),
    # The CloudWatch Logs key policy as AWS documents it (CloudWatch Logs user guide, encrypt log data with KMS):
    # ArnLike on kms:EncryptionContext:aws:logs:arn over Encrypt*/Decrypt*/.../Describe* (infra/modules/security)
    ("UNKNOWN_CONDITION_FOR_ACTION", "Unknown condition kms:EncryptionContext:aws:logs:arn for action kms:Describe",
     "kms:EncryptionContext:aws:logs:arn", "AWS's documented CloudWatch Logs key policy"),
    ("MISMATCHED_TYPE", "ArnLike requires a value of type Arn but given String", '"ArnLike":{"kms:EncryptionContext:aws:logs:arn"',
     "AWS's documented CloudWatch Logs key policy uses ArnLike on kms:EncryptionContext:aws:logs:arn"),
]  # fmt: skip
# Trust policies have no Resource, which parliament (an identity-policy linter) reports as MALFORMED; Access
# Analyzer validates them (AWS::IAM::AssumeRolePolicyDocument).
PARLIAMENT_SKIPS = {"aws_iam_role"}


@dataclass(frozen=True)
class Policy:
    address: str
    rtype: str
    kind: str  # IDENTITY_POLICY or RESOURCE_POLICY
    document: str


def policies(plan: dict[str, Any]) -> Iterator[Policy]:
    """Rendered policies of resources the plan creates or updates; values known only after apply are skipped."""
    for rc in plan.get("resource_changes", []):
        attr = POLICY_ATTRS.get(rc.get("type", ""))
        change = rc.get("change") or {}
        if rc.get("mode") != "managed" or attr is None or change.get("actions") == ["delete"]:
            continue
        doc = (change.get("after") or {}).get(attr[0])
        if isinstance(doc, str) and doc.strip():
            yield Policy(rc["address"], rc["type"], attr[1], doc)


def parliament_findings(policy: Policy) -> list[str]:
    """parliament findings of severity MEDIUM or worse, less KNOWN_FALSE_POSITIVES."""
    from parliament import analyze_policy_string, enhance_finding

    analyzed = analyze_policy_string(
        policy.document, ignore_private_auditors=True, include_community_auditors=False
    )
    out = []
    for f in analyzed.findings:
        enhance_finding(f)
        detail = json.dumps(f.detail, default=str)
        if f.severity not in FAILING:
            continue
        compact = "".join(policy.document.split())
        if any(
            issue == f.issue and needle in detail and where in compact
            for issue, needle, where, _ in KNOWN_FALSE_POSITIVES
        ):
            continue
        out.append(f"{policy.address}: {f.severity} {f.issue} {detail[:300]}")
    return out


def access_analyzer_findings(policy: Policy, client: Any) -> list[str]:
    kwargs: dict[str, Any] = {"policyDocument": policy.document, "policyType": policy.kind}
    if policy.rtype in AA_RESOURCE_TYPE:
        kwargs["validatePolicyResourceType"] = AA_RESOURCE_TYPE[policy.rtype]
    out = []
    for page in client.get_paginator("validate_policy").paginate(**kwargs):
        for f in page["findings"]:
            if f["findingType"] in ("ERROR", "SECURITY_WARNING"):
                out.append(f"{policy.address}: {f['findingType']} {f['issueCode']}: {f['findingDetails']}")
    return out


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("list", "parliament", "access-analyzer"):
        print(__doc__, file=sys.stderr)
        return 2
    try:
        plan = json.loads(Path(argv[1]).read_text())
    except (OSError, ValueError) as exc:
        print(f"iam_policies: error: cannot read the plan JSON {argv[1]}: {exc}", file=sys.stderr)
        return 2
    found = list(policies(plan))
    if not found:
        print(
            f"iam_policies: error: no IAM policy in {argv[1]}: is it a plan JSON (`show -json`)?",
            file=sys.stderr,
        )
        return 2
    problems: list[str] = []
    if argv[0] == "list":
        for p in found:
            print(f"{p.kind:<16} {p.address}")
        return 0
    if argv[0] == "parliament":
        for p in found:
            if p.rtype not in PARLIAMENT_SKIPS:
                problems += parliament_findings(p)
    else:
        import boto3

        client = boto3.client("accessanalyzer")
        for p in found:
            problems += access_analyzer_findings(p, client)
    for line in problems:
        print(line)
    print(f"iam_policies {argv[0]}: {len(found)} policies, {len(problems)} failing findings", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
