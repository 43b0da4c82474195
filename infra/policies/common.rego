# Helpers shared by the policies: resources a plan creates or updates, with their planned values.
package terraform.common

import rego.v1

# A resource change that ends with the resource existing (create, update, replace, no-op). A function, not a set of
# changes: building sets of large objects is slow in the interpreters.
live(rc) if {
	rc.mode == "managed"
	rc.change.actions != ["delete"]
}

after(rc) := object.get(rc.change, "after", {})

# A value the plan does not know yet (it comes from another resource) counts as set.
unknown(rc, key) if object.get(object.get(rc.change, "after_unknown", {}), key, false) == true

is_set(rc, key) if {
	v := object.get(after(rc), key, null)
	v != null
	v != ""
}

is_set(rc, key) if unknown(rc, key)

public_demo if input.variables.public_demo.value == true

env_of(rc) := object.get(object.get(after(rc), "tags_all", {}), "Env", "")

# object.get for list attributes that may be null in a plan.
list(o, k) := v if {
	v := object.get(o, k, [])
	v != null
}

list(o, k) := [] if object.get(o, k, []) == null

# Booleans some provider attributes carry as strings ("true").
truthy(true)

truthy("true")
