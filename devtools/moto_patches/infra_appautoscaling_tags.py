"""Application Auto Scaling ListTagsForResource / TagResource / UntagResource (stock moto 5.2.5 answers 500).

`aws_appautoscaling_target` reads tags back, and its failure also blocks the scaling policies and scheduled actions
(infra/modules/scaling, "aas" mode).
"""

from __future__ import annotations

import json
from typing import Any


def apply() -> None:
    from moto.applicationautoscaling.responses import ApplicationAutoScalingResponse

    def _tags(self: Any) -> dict[str, dict[str, str]]:
        backend = self.applicationautoscaling_backend
        store = getattr(backend, "_infra_tags", None)
        if store is None:
            store = backend._infra_tags = {}
        return store  # type: ignore[no-any-return]

    original_register = ApplicationAutoScalingResponse.register_scalable_target

    def register_scalable_target(self: Any) -> str:
        out = original_register(self)
        tags = self._get_param("Tags") or {}
        if tags:
            for t in self.applicationautoscaling_backend.describe_scalable_targets(
                self._get_param("ServiceNamespace"), [self._get_param("ResourceId")], None
            ):
                _tags(self).setdefault(t.arn, {}).update(tags)
        body = json.loads(out) if out else {}
        return json.dumps(body)

    def list_tags_for_resource(self: Any) -> str:
        return json.dumps({"Tags": _tags(self).get(self._get_param("ResourceARN"), {})})

    def tag_resource(self: Any) -> str:
        _tags(self).setdefault(self._get_param("ResourceARN"), {}).update(self._get_param("Tags") or {})
        return json.dumps({})

    def untag_resource(self: Any) -> str:
        store = _tags(self).setdefault(self._get_param("ResourceARN"), {})
        for k in self._get_param("TagKeys") or []:
            store.pop(k, None)
        return json.dumps({})

    ApplicationAutoScalingResponse.register_scalable_target = register_scalable_target  # type: ignore[method-assign]
    ApplicationAutoScalingResponse.list_tags_for_resource = list_tags_for_resource  # type: ignore[attr-defined]
    ApplicationAutoScalingResponse.tag_resource = tag_resource  # type: ignore[attr-defined]
    ApplicationAutoScalingResponse.untag_resource = untag_resource  # type: ignore[attr-defined]
