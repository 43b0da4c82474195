# No security group ingress from anywhere (0.0.0.0/0 or ::/0).
package terraform.ingress

import data.terraform.common
import rego.v1

open_cidrs := {"0.0.0.0/0", "::/0"}

deny contains msg if {
	some rc in input.resource_changes
	common.live(rc)
	rc.type == "aws_vpc_security_group_ingress_rule"
	a := common.after(rc)
	some k in ["cidr_ipv4", "cidr_ipv6"]
	object.get(a, k, null) in open_cidrs
	msg := sprintf("%s: ingress from %s", [rc.address, a[k]])
}

deny contains msg if {
	some rc in input.resource_changes
	common.live(rc)
	rc.type == "aws_security_group_rule"
	a := common.after(rc)
	a.type == "ingress"
	some c in array.concat(common.list(a, "cidr_blocks"), common.list(a, "ipv6_cidr_blocks"))
	c in open_cidrs
	msg := sprintf("%s: ingress from %s", [rc.address, c])
}

deny contains msg if {
	some rc in input.resource_changes
	common.live(rc)
	rc.type == "aws_security_group"
	some rule in common.list(common.after(rc), "ingress")
	some c in array.concat(common.list(rule, "cidr_blocks"), common.list(rule, "ipv6_cidr_blocks"))
	c in open_cidrs
	msg := sprintf("%s: inline ingress from %s", [rc.address, c])
}
