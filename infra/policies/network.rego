# No NAT or internet gateway unless public_demo is on (docs/adr/0003-nat-free-vpc-endpoints.md).
package terraform.network

import data.terraform.common
import rego.v1

gateway_types := {"aws_nat_gateway", "aws_internet_gateway", "aws_egress_only_internet_gateway"}

deny contains msg if {
	some rc in input.resource_changes
	common.live(rc)
	rc.type in gateway_types
	not common.public_demo
	msg := sprintf("%s: %s without public_demo (the platform is NAT-free)", [rc.address, rc.type])
}
