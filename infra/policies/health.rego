# Health-check timings and the ALB idle timeout must not go below the floors (slow Airflow starts, long requests).
package terraform.health

import data.terraform.common
import rego.v1

alb_idle_timeout_min := 120

tg_floor := {"interval": 30, "timeout": 5, "unhealthy_threshold": 3}

ecs_floor := {"startPeriod": 120, "interval": 30, "retries": 5}

# The dagsync sidecar's check is cheap (no Airflow import) and gates every Airflow container's start (dependsOn
# HEALTHY): its interval may go down to the ECS minimum (docs/adr/0001-dag-sync.md §9).
sidecar_floor := object.union(ecs_floor, {"interval": 5})

floor_of(c) := sidecar_floor if c.name == "dagsync"

floor_of(c) := ecs_floor if c.name != "dagsync"

deny contains msg if {
	some rc in input.resource_changes
	common.live(rc)
	rc.type in {"aws_lb", "aws_alb"}
	object.get(common.after(rc), "load_balancer_type", "application") == "application"
	t := object.get(common.after(rc), "idle_timeout", 60)
	t < alb_idle_timeout_min
	msg := sprintf("%s: ALB idle_timeout %v < %v", [rc.address, t, alb_idle_timeout_min])
}

deny contains msg if {
	some rc in input.resource_changes
	common.live(rc)
	rc.type in {"aws_lb_target_group", "aws_alb_target_group"}
	some hc in object.get(common.after(rc), "health_check", [])
	some key, floor in tg_floor
	v := object.get(hc, key, 0)
	v < floor
	msg := sprintf("%s: target group health_check.%s %v < %v", [rc.address, key, v, floor])
}

# Container definitions are known at plan time on every change after the first apply; on the first create the
# compute module's variable validation enforces the same floors.
deny contains msg if {
	some rc in input.resource_changes
	common.live(rc)
	rc.type == "aws_ecs_task_definition"
	defs := json.unmarshal(common.after(rc).container_definitions)
	some c in defs
	hc := object.get(c, "healthCheck", null)
	hc != null
	some key, floor in floor_of(c)
	v := object.get(hc, key, 0)
	v < floor
	msg := sprintf("%s: container %s healthCheck.%s %v < %v", [rc.address, c.name, key, v, floor])
}

deny contains msg if {
	some rc in input.resource_changes
	common.live(rc)
	rc.type == "aws_ecs_task_definition"
	defs := json.unmarshal(common.after(rc).container_definitions)
	not one_off(rc)
	some c in defs
	c.essential == true
	object.get(c, "healthCheck", null) == null
	msg := sprintf("%s: essential container %s has no health check", [rc.address, c.name])
}

# A one-off task (TaskKind = one-off: the migration, run to completion by `infra apply`) has no health check to run;
# no ECS service may run it.
one_off(rc) if {
	tags := object.get(common.after(rc), "tags", {})
	is_object(tags)
	object.get(tags, "TaskKind", "") == "one-off"
}

deny contains msg if {
	some rc in input.resource_changes
	common.live(rc)
	rc.type == "aws_ecs_service"
	td := object.get(common.after(rc), "task_definition", "")
	is_string(td)
	contains(td, "-migrate:")
	msg := sprintf("%s: a service runs the one-off migration task definition %s", [rc.address, td])
}
