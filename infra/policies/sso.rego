# SSO over private routing: an ALB authenticate-oidc action calls the IdP's token and user-info endpoints from the
# ALB itself. The VPC has no NAT, so the ALB's security group must allow 443 to the IdP's CIDRs or prefix lists
# (reached over a transit gateway, VPN or Direct Connect), i.e. modules/edge's oidc.idp_egress_cidrs /
# idp_egress_prefix_list_ids. See docs/adr/0006-secrets-and-sso.md.
package terraform.sso

import data.terraform.common
import rego.v1

oidc_action(a) if a.type == "authenticate-oidc"

uses_oidc(rc) if {
	rc.type == "aws_lb_listener"
	some a in common.list(common.after(rc), "default_action")
	oidc_action(a)
}

uses_oidc(rc) if {
	rc.type == "aws_lb_listener_rule"
	some a in common.list(common.after(rc), "action")
	oidc_action(a)
}

# An egress rule of the same module to a CIDR or prefix list (not to another security group) that covers 443.
idp_egress(listener) if {
	some rc in input.resource_changes
	common.live(rc)
	rc.type == "aws_vpc_security_group_egress_rule"
	object.get(rc, "module_address", "") == object.get(listener, "module_address", "")
	a := common.after(rc)
	object.get(a, "ip_protocol", "") in {"tcp", "6"}
	object.get(a, "from_port", 0) <= 443
	object.get(a, "to_port", 0) >= 443
	some k in ["cidr_ipv4", "cidr_ipv6", "prefix_list_id"]
	common.is_set(rc, k)
}

deny contains msg if {
	some rc in input.resource_changes
	common.live(rc)
	uses_oidc(rc)
	not idp_egress(rc)
	msg := sprintf(
		"%s: authenticate-oidc without egress to the IdP: set oidc.idp_egress_cidrs or oidc.idp_egress_prefix_list_ids (the IdP over private routing; the VPC has no NAT)",
		[rc.address],
	)
}

deny contains msg if {
	some rc in input.resource_changes
	common.live(rc)
	rc.type == "aws_vpc_security_group_egress_rule"
	a := common.after(rc)
	startswith(object.get(a, "description", ""), "OIDC:")
	some k in ["cidr_ipv4", "cidr_ipv6"]
	object.get(a, k, null) in {"0.0.0.0/0", "::/0"}
	msg := sprintf("%s: OIDC egress to %s: name the IdP's addresses only", [rc.address, a[k]])
}
