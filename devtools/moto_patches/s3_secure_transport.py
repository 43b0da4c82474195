"""S3 bucket policies: requests count as TLS (``aws:SecureTransport = true``). Stock moto 5.2.5 evaluates only
``StringEquals`` conditions, ignores the rest, and takes a statement whose conditions do not hold as a deny, so the
TLS-only ``Deny`` of every hardened bucket (infra/modules/data) denies every request.

The local stack reaches the emulator over loopback HTTP; on AWS every S3 request the platform makes is TLS (the SDKs'
default, through the S3 gateway endpoint). So a statement that applies only to non-TLS requests
(``Bool: aws:SecureTransport = false``) never applies here; the rest of the policy is evaluated as before.
"""

from __future__ import annotations

import json
from typing import Any


def only_without_tls(statement: dict[str, Any]) -> bool:
    for key, value in (statement.get("Condition", {}).get("Bool") or {}).items():
        values = value if isinstance(value, list) else [value]
        if key.lower() == "aws:securetransport" and {str(v).lower() for v in values} == {"false"}:
            return True
    return False


def apply() -> None:
    from moto.iam.access_control import IAMPolicy, PermissionResult
    from moto.s3.models import FakeBucket

    def get_permission(self: Any, action: str, resource: str) -> Any:
        if self.policy is None:
            return PermissionResult.NEUTRAL
        doc = json.loads(self.policy.decode())
        statements = doc.get("Statement", [])
        statements = [statements] if isinstance(statements, dict) else statements
        kept = [s for s in statements if not only_without_tls(s)]
        if not kept:
            return PermissionResult.NEUTRAL
        return IAMPolicy(json.dumps({**doc, "Statement": kept})).is_action_permitted(action, resource)

    FakeBucket.get_permission = get_permission  # type: ignore[method-assign]
