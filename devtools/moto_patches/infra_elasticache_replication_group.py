"""ElastiCache replication groups as Terraform reads them (stock moto 5.2.5 gaps):

- the member cache clusters (<group>-001, ...) exist and can be described, with their security groups (Terraform
  reads the group's security_group_ids from them);
- DeleteReplicationGroup removes the group (and its members) instead of leaving it "deleting" forever;
- DeleteCacheSubnetGroup exists.
"""

from __future__ import annotations

from typing import Any


def apply() -> None:
    from moto.core.responses import ActionResult
    from moto.elasticache.exceptions import CacheSubnetGroupNotFound
    from moto.elasticache.models import CacheCluster, ElastiCacheBackend
    from moto.elasticache.responses import ElastiCacheResponse

    original_create = ElastiCacheBackend.create_replication_group

    def create_replication_group(self: Any, *args: Any, **kwargs: Any) -> Any:
        group = original_create(self, *args, **kwargs)
        for member in group.member_clusters:
            cluster = CacheCluster(
                account_id=self.account_id,
                region_name=self.region_name,
                cache_cluster_id=member,
                cache_node_type=kwargs.get("cache_node_type"),
                replication_group_id=group.replication_group_id,
                az_mode=None,
                preferred_availability_zone=None,
                num_cache_nodes=1,
                engine=kwargs.get("engine") or "redis",
                engine_version=kwargs.get("engine_version"),
                cache_parameter_group_name=kwargs.get("cache_parameter_group_name"),
                cache_subnet_group_name=kwargs.get("cache_subnet_group_name"),
                transit_encryption_enabled=kwargs.get("transit_encryption_enabled"),
                network_type=kwargs.get("network_type"),
                ip_discovery=kwargs.get("ip_discovery"),
                snapshot_name=None,
                preferred_maintenance_window=kwargs.get("preferred_maintenance_window"),
                port=kwargs.get("port"),
                notification_topic_arn=None,
                auto_minor_version_upgrade=kwargs.get("auto_minor_version_upgrade"),
                snapshot_retention_limit=kwargs.get("snapshot_retention_limit"),
                snapshot_window=kwargs.get("snapshot_window"),
                auth_token=kwargs.get("auth_token"),
                outpost_mode=None,
                preferred_outpost_arn=None,
                preferred_availability_zones=None,
                cache_security_group_names=None,
                security_group_ids=kwargs.get("security_group_ids"),
                tags=None,
                snapshot_arns=None,
                preferred_outpost_arns=None,
                log_delivery_configurations=[],
                cache_node_ids_to_remove=None,
                cache_node_ids_to_reboot=None,
            )
            cluster.at_rest_encryption_enabled = bool(kwargs.get("at_rest_encryption_enabled"))
            cluster.security_groups = [
                {"SecurityGroupId": sg, "Status": "active"} for sg in kwargs.get("security_group_ids") or []
            ]
            self.cache_clusters[member] = cluster
        return group

    def delete_replication_group(
        self: Any, replication_group_id: str, retain_primary_cluster: bool | None
    ) -> Any:
        from moto.elasticache.exceptions import ReplicationGroupNotFound

        group = self.replication_groups.pop(replication_group_id, None)
        if group is None:
            raise ReplicationGroupNotFound(replication_group_id)
        for member in list(group.member_clusters):
            self.cache_clusters.pop(member, None)
        group.status = "deleting"
        return group

    def delete_cache_subnet_group(self: Any, name: str) -> None:
        if name not in self.cache_subnet_groups:
            raise CacheSubnetGroupNotFound(name)
        del self.cache_subnet_groups[name]

    def delete_cache_subnet_group_response(self: Any) -> ActionResult:
        self.elasticache_backend.delete_cache_subnet_group(self._get_param("CacheSubnetGroupName"))
        return ActionResult({})

    ElastiCacheBackend.create_replication_group = create_replication_group  # type: ignore[method-assign]
    ElastiCacheBackend.delete_replication_group = delete_replication_group  # type: ignore[method-assign]
    ElastiCacheBackend.delete_cache_subnet_group = delete_cache_subnet_group  # type: ignore[attr-defined]
    ElastiCacheResponse.delete_cache_subnet_group = delete_cache_subnet_group_response  # type: ignore[attr-defined]
