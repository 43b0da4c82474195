"""Budgets DescribeSubscribersForNotification and resource tags (stock moto 5.2.5 answers 500).

Needed by `aws_budgets_budget` (infra/modules/observability), which reads subscribers and tags back.
"""

from __future__ import annotations

import json
from typing import Any

_KEYS = ("NotificationType", "ComparisonOperator", "Threshold", "ThresholdType")


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return all(str(a.get(k)) == str(b.get(k)) for k in _KEYS if k != "Threshold") and float(
        a.get("Threshold", 0)
    ) == float(b.get("Threshold", 0))


def apply() -> None:
    from moto.budgets.models import BudgetsBackend
    from moto.budgets.responses import BudgetsResponse

    def _tags(self: Any) -> dict[str, dict[str, str]]:
        store = getattr(self, "_infra_tags", None)
        if store is None:
            store = self._infra_tags = {}
        return store  # type: ignore[no-any-return]

    original_create = BudgetsResponse.create_budget

    def create_budget(self: Any) -> str:
        out = original_create(self)
        tags = self._get_param("ResourceTags") or []
        if tags:
            arn = f"arn:aws:budgets::{self._get_param('AccountId')}:budget/{self._get_param('Budget')['BudgetName']}"
            _tags(self.backend).setdefault(arn, {}).update({t["Key"]: t["Value"] for t in tags})
        return out  # type: ignore[no-any-return]

    def describe_subscribers_for_notification(self: Any) -> str:
        budget = self.backend.budgets[self._get_param("AccountId")][self._get_param("BudgetName")]
        wanted = self._get_param("Notification") or {}
        subs: list[dict[str, Any]] = []
        for n in budget.notifications:
            if _same(n.details, wanted):
                subs = list(n.subscribers)
        return json.dumps({"Subscribers": subs})

    def list_tags_for_resource(self: Any) -> str:
        tags = _tags(self.backend).get(self._get_param("ResourceARN"), {})
        return json.dumps({"ResourceTags": [{"Key": k, "Value": v} for k, v in sorted(tags.items())]})

    def tag_resource(self: Any) -> str:
        tags = self._get_param("ResourceTags") or []
        _tags(self.backend).setdefault(self._get_param("ResourceARN"), {}).update(
            {t["Key"]: t["Value"] for t in tags}
        )
        return json.dumps({})

    def untag_resource(self: Any) -> str:
        store = _tags(self.backend).setdefault(self._get_param("ResourceARN"), {})
        for k in self._get_param("ResourceTagKeys") or []:
            store.pop(k, None)
        return json.dumps({})

    BudgetsResponse.create_budget = create_budget  # type: ignore[method-assign]
    BudgetsResponse.describe_subscribers_for_notification = describe_subscribers_for_notification  # type: ignore[attr-defined]
    BudgetsResponse.list_tags_for_resource = list_tags_for_resource  # type: ignore[attr-defined]
    BudgetsResponse.tag_resource = tag_resource  # type: ignore[attr-defined]
    BudgetsResponse.untag_resource = untag_resource  # type: ignore[attr-defined]
    _ = BudgetsBackend
