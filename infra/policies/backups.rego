# Every store keeps backups: RDS >= 7 days (14 in prod) with deletion protection in prod, Redis snapshots,
# EFS backup policy enabled, S3 versioning.
package terraform.backups

import data.terraform.common
import rego.v1

min_retention(rc) := 14 if common.env_of(rc) == "prod"

min_retention(rc) := 7 if common.env_of(rc) != "prod"

deny contains msg if {
	some rc in input.resource_changes
	common.live(rc)
	rc.type == "aws_db_instance"
	r := object.get(common.after(rc), "backup_retention_period", 0)
	r < min_retention(rc)
	msg := sprintf("%s: backup_retention_period %v < %v days", [rc.address, r, min_retention(rc)])
}

deny contains msg if {
	some rc in input.resource_changes
	common.live(rc)
	rc.type == "aws_db_instance"
	common.env_of(rc) == "prod"
	object.get(common.after(rc), "deletion_protection", false) != true
	msg := sprintf("%s: prod database without deletion protection", [rc.address])
}

deny contains msg if {
	some rc in input.resource_changes
	common.live(rc)
	rc.type == "aws_elasticache_replication_group"
	object.get(common.after(rc), "snapshot_retention_limit", 0) < 1
	msg := sprintf("%s: Redis without snapshots (snapshot_retention_limit < 1)", [rc.address])
}

deny contains msg if {
	some rc in input.resource_changes
	common.live(rc)
	rc.type == "aws_efs_file_system"
	not efs_backup(rc)
	msg := sprintf("%s: EFS without an enabled backup policy", [rc.address])
}

efs_backup(fs) if {
	some rc in input.resource_changes
	common.live(rc)
	rc.type == "aws_efs_backup_policy"
	object.get(rc, "module_address", "") == object.get(fs, "module_address", "")
	some p in common.after(rc).backup_policy
	p.status == "ENABLED"
}

deny contains msg if {
	some rc in input.resource_changes
	common.live(rc)
	rc.type == "aws_s3_bucket"
	not versioned(rc)
	msg := sprintf("%s: bucket without versioning", [rc.address])
}

versioned(bucket) if {
	some rc in input.resource_changes
	common.live(rc)
	rc.type == "aws_s3_bucket_versioning"
	object.get(rc, "module_address", "") == object.get(bucket, "module_address", "")
	object.get(rc, "index", null) == object.get(bucket, "index", null)
	some v in common.after(rc).versioning_configuration
	v.status == "Enabled"
}
