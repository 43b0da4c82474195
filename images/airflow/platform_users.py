"""The platform's Airflow users, from Secrets Manager: run by ``entrypoint.sh migrate`` after ``airflow db migrate``.

The FAB auth manager keeps users in the metadata DB (docs/adr/0006-secrets-and-sso.md). The migration task gets two
secrets through ECS ``secrets`` (infra/modules/compute):

  AIRFLOW_ADMIN_USERNAME / AIRFLOW_ADMIN_PASSWORD   <prefix>-airflow-admin: the first admin (role Admin)
  AIRFLOW_CI_USERNAME / AIRFLOW_CI_PASSWORD         <prefix>-airflow-ci: the dag-sync workflow's machine account

Idempotent: a missing user is created; an existing one gets its role set back and, when the secret's password no
longer matches, its password reset (so changing a secret and re-running the migration task changes the login).
The CI role has exactly CI_PERMISSIONS. Passwords never reach the output.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

ADMIN_ROLE = "Admin"
CI_ROLE = "CI"
# What the dag-sync workflow's check needs (scripts/wait_dag_visible.py: GET /api/v2/dags/{id}, /api/v2/importErrors),
# plus the UI home page read that the FAB auth manager grants every custom role at start anyway.
CI_PERMISSIONS = frozenset({("can_read", "DAGs"), ("can_read", "ImportError"), ("can_read", "Website")})


class UsersError(Exception):
    """One line for the migration task's log: what is wrong and what to do."""


@dataclass(frozen=True)
class UserSpec:
    kind: str  # "admin" | "ci": which secret it came from
    username: str
    password: str = field(repr=False)
    role: str

    @property
    def email(self) -> str:
        return f"{self.username}@airflow.invalid"  # FAB requires a unique e-mail; nobody mails these accounts


def specs_from_env(env: Mapping[str, str]) -> list[UserSpec]:
    """The users the environment asks for (pure). A kind with neither variable set is skipped."""
    out: list[UserSpec] = []
    for kind, role in (("admin", ADMIN_ROLE), ("ci", CI_ROLE)):
        user_var, pw_var = f"AIRFLOW_{kind.upper()}_USERNAME", f"AIRFLOW_{kind.upper()}_PASSWORD"
        user, password = env.get(user_var, "").strip(), env.get(pw_var, "")
        if not user and not password:
            continue
        if not user or not password:
            missing = user_var if not user else pw_var
            raise UsersError(
                f"{missing} is empty: the {kind} secret needs both username and password "
                "(infra/modules/compute, secret <prefix>-airflow-" + kind + ")"
            )
        out.append(UserSpec(kind, user, password, role))
    if len({s.username for s in out}) < len(out):
        raise UsersError("the admin and CI secrets name the same user: give the CI account its own username")
    return out


def permission_changes(
    current: Iterable[tuple[str, str]], desired: Iterable[tuple[str, str]]
) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
    """(to add, to remove) so a role has exactly ``desired`` (pure)."""
    cur, want = set(current), set(desired)
    return want - cur, cur - want


def _sync_ci_role(sm) -> str:  # type: ignore[no-untyped-def]
    role = sm.find_role(CI_ROLE) or sm.add_role(CI_ROLE)
    current = {(p.action.name, p.resource.name): p for p in role.permissions}
    add, remove = permission_changes(current, CI_PERMISSIONS)
    for action, resource in sorted(add):
        perm = sm.get_permission(action, resource) or sm.create_permission(action, resource)
        sm.add_permission_to_role(role, perm)
    for key in sorted(remove):
        sm.remove_permission_from_role(role, current[key])
    return f"role {CI_ROLE}: {len(add)} permission(s) added, {len(remove)} removed"


def _sync_user(sm, spec: UserSpec) -> str:  # type: ignore[no-untyped-def]
    role = sm.find_role(spec.role)
    if role is None:
        raise UsersError(f"role {spec.role} missing after the migration: re-run `entrypoint.sh migrate`")
    user = sm.find_user(username=spec.username)
    if user is None:
        if not sm.add_user(spec.username, spec.username, spec.kind, spec.email, role, spec.password):
            raise UsersError(f"could not create user {spec.username!r}: see the FAB error above")
        return f"{spec.kind} user {spec.username!r}: created (role {spec.role})"
    changed = []
    if [r.name for r in user.roles] != [spec.role] or not user.active:
        user.roles = [role]
        user.active = True
        if not sm.update_user(user):
            raise UsersError(f"could not update user {spec.username!r}: see the FAB error above")
        changed.append(f"role {spec.role}, active")
    if not sm.check_password(spec.username, spec.password):
        if not sm.reset_password(user.id, spec.password):
            raise UsersError(f"could not set the password of {spec.username!r}: see the FAB error above")
        changed.append("password from the secret")
    return f"{spec.kind} user {spec.username!r}: " + (
        ", ".join(changed) + " updated" if changed else "unchanged"
    )


def sync(specs: list[UserSpec]) -> list[str]:
    """Create or update the users in the metadata DB through FAB's security manager."""
    from airflow.providers.fab.auth_manager.cli_commands.utils import get_application_builder

    with get_application_builder() as appbuilder:
        sm = appbuilder.sm
        sm.sync_roles()  # the built-in roles (Admin, ...) exist from here on, also before any api-server ran
        done = [_sync_ci_role(sm)] if any(s.kind == "ci" for s in specs) else []
        done += [_sync_user(sm, s) for s in specs]
    return done


def main(env: Mapping[str, str] | None = None) -> int:
    try:
        specs = specs_from_env(os.environ if env is None else env)
        if not specs:
            print("platform_users: no AIRFLOW_ADMIN_*/AIRFLOW_CI_* set; no users to create", file=sys.stderr)
            return 0
        for line in sync(specs):
            print(f"platform_users: {line}", file=sys.stderr)
    except UsersError as exc:
        print(f"platform_users: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
