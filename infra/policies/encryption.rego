# Every store is encrypted with the customer-managed key (CMK), never the AWS-owned default.
package terraform.encryption

import data.terraform.common
import rego.v1

# type => attribute that must name the CMK
cmk_attr := {
	"aws_db_instance": "kms_key_id",
	"aws_elasticache_replication_group": "kms_key_id",
	"aws_efs_file_system": "kms_key_id",
	"aws_sns_topic": "kms_master_key_id",
	"aws_cloudwatch_log_group": "kms_key_id",
	"aws_secretsmanager_secret": "kms_key_id",
}

# type => boolean attribute that must be true
enc_flag := {
	"aws_db_instance": "storage_encrypted",
	"aws_elasticache_replication_group": "at_rest_encryption_enabled",
	"aws_efs_file_system": "encrypted",
}

deny contains msg if {
	some rc in input.resource_changes
	common.live(rc)
	attr := cmk_attr[rc.type]
	not common.is_set(rc, attr)
	msg := sprintf("%s: %s not encrypted with the CMK (%s unset)", [rc.address, rc.type, attr])
}

deny contains msg if {
	some rc in input.resource_changes
	common.live(rc)
	flag := enc_flag[rc.type]
	not common.truthy(object.get(common.after(rc), flag, false))
	msg := sprintf("%s: %s is false", [rc.address, flag])
}

deny contains msg if {
	some rc in input.resource_changes
	common.live(rc)
	rc.type == "aws_elasticache_replication_group"
	not common.truthy(object.get(common.after(rc), "transit_encryption_enabled", false))
	msg := sprintf("%s: Redis without TLS in transit", [rc.address])
}

deny contains msg if {
	some rc in input.resource_changes
	common.live(rc)
	rc.type == "aws_db_instance"
	common.is_set(rc, "performance_insights_enabled")
	common.after(rc).performance_insights_enabled == true
	not common.is_set(rc, "performance_insights_kms_key_id")
	msg := sprintf("%s: Performance Insights without the CMK", [rc.address])
}

# S3: each bucket needs an SSE-KMS configuration with the CMK, matched by module and instance key.
sse_ok(bucket) if {
	some rc in input.resource_changes
	common.live(rc)
	rc.type == "aws_s3_bucket_server_side_encryption_configuration"
	same_instance(rc, bucket)
	some rule in common.after(rc).rule
	some d in rule.apply_server_side_encryption_by_default
	d.sse_algorithm == "aws:kms"
	sse_key_set(rc, d)
}

sse_key_set(_, d) if {
	object.get(d, "kms_master_key_id", "") != ""
}

sse_key_set(rc, _) if {
	some r in object.get(object.get(rc.change, "after_unknown", {}), "rule", [])
	some d in object.get(r, "apply_server_side_encryption_by_default", [])
	object.get(d, "kms_master_key_id", false) == true
}

same_instance(a, b) if {
	object.get(a, "module_address", "") == object.get(b, "module_address", "")
	object.get(a, "index", null) == object.get(b, "index", null)
}

same_instance(a, b) if {
	name := object.get(common.after(b), "bucket", null)
	name != null
	object.get(common.after(a), "bucket", "") == name
}

deny contains msg if {
	some rc in input.resource_changes
	common.live(rc)
	rc.type == "aws_s3_bucket"
	not sse_ok(rc)
	msg := sprintf("%s: bucket without SSE-KMS using the CMK", [rc.address])
}
