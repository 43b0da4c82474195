"""`infra init|plan|apply|destroy ENV`: OpenTofu (or Terraform) with the repo's CLI config and a policy gate.

Every apply is preceded by a fresh plan, its JSON (`show -json`) and the Rego gate (infra/policies, regopy); any
deny refuses the apply and lists the denies. `--emulated` (or INFRA_EMULATED=1) points the provider at
AWS_ENDPOINT_URL (moto) through a generated, git-ignored override file, with local state.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from platform_common.exitcodes import DENIED, FAILED, INTERRUPTED, OK, USAGE

from . import gate, iamdocs, migrate, tf, tfdocs
from .paths import InfraError, env_dir, infra_dir, root_dir, var_files, work_dir


class TfFailed(InfraError):
    """tofu ran and failed (init, plan, apply, destroy) or the migration task failed: exit FAILED, not USAGE."""


# Envs that exist only for the emulator (`make local`): never applied to a real account.
EMULATOR_ONLY = frozenset({"local"})


@dataclass
class Ctx:
    env: str
    emulated: bool
    endpoint: str | None
    binary: str
    proc_env: dict[str, str]
    dir: Path  # infra/envs/<env>: settings.tfvars, backend.hcl, terraform.tfvars
    work: Path  # infra/envs/<env>/.infra: plans, plan JSON, emulated state
    root: Path  # where tofu runs: infra/platform, or the env's private copy of it when emulated
    var_files: list[Path]
    vars: list[str]
    yes: bool


def _parallelism() -> list[str]:
    """INFRA_TF_PARALLELISM=N passes -parallelism=N (apply/destroy mostly wait on AWS waiters, not CPU)."""
    n = os.environ.get("INFRA_TF_PARALLELISM", "")
    if not n:
        return []
    if not n.isdigit() or int(n) < 1:
        raise InfraError(f"INFRA_TF_PARALLELISM={n!r}: use a positive integer")
    return [f"-parallelism={n}"]


def _migrate_timeout() -> float:
    """INFRA_MIGRATE_TIMEOUT=SECONDS bounds the wait for the migration task (default 1800)."""
    raw = os.environ.get("INFRA_MIGRATE_TIMEOUT", "1800")
    try:
        value = float(raw)
    except ValueError:
        value = 0.0
    if value <= 0:
        raise InfraError(f"INFRA_MIGRATE_TIMEOUT={raw!r}: use a positive number of seconds")
    return value


def _tf_args_vars(ctx: Ctx) -> list[str]:
    args = [f"-var-file={p}" for p in ctx.var_files]
    for v in ctx.vars:
        args += ["-var", v]
    return args


def check_credentials(ctx: Ctx) -> None:
    """One STS call, so bad credentials fail in one line before tofu prints pages of errors."""
    from botocore.exceptions import BotoCoreError, ClientError

    from platform_common.aws import client_config, sync_client

    try:
        sync_client(
            "sts", client_config(max_attempts=1, connect_timeout=3, read_timeout=10)
        ).get_caller_identity()
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "error")
        raise InfraError(
            f"AWS credentials rejected ({code}): refresh them (aws sso login / AWS_PROFILE) and retry"
        ) from None
    except BotoCoreError as exc:
        where = f" at {ctx.endpoint}" if ctx.endpoint else ""
        raise InfraError(f"AWS credentials not usable{where}: {exc}") from None


def make_ctx(args: argparse.Namespace) -> Ctx:
    emulated = bool(args.emulated or os.environ.get("INFRA_EMULATED", "") not in ("", "0", "false"))
    endpoint = os.environ.get("AWS_ENDPOINT_URL") if emulated else None
    if emulated and not endpoint:
        raise InfraError(
            "--emulated needs AWS_ENDPOINT_URL (the moto server URL), e.g. http://127.0.0.1:5000"
        )
    if args.env in EMULATOR_ONLY and not emulated:
        raise InfraError(
            f"env {args.env!r} is the emulator's (make local): pass --emulated with AWS_ENDPOINT_URL, "
            "or choose dev/prod for a real account"
        )
    binary = tf.pick_binary()
    d = env_dir(args.env)
    work = work_dir(args.env)
    proc_env = tf.tf_env()
    if emulated:
        proc_env.update({"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"})
        proc_env.setdefault("AWS_REGION", "us-east-1")
        proc_env.setdefault("AWS_DEFAULT_REGION", proc_env["AWS_REGION"])
        root = tf.emulated_root(work)
        data_dir = root.parent / ".terraform"
    else:
        root = root_dir()
        data_dir = d / ".terraform"  # per env: its own backend and providers, never another env's
    proc_env["TF_DATA_DIR"] = str(data_dir)
    return Ctx(
        args.env, emulated, endpoint, binary, proc_env, d, work, root, var_files(args.env),
        list(args.var or []), args.yes,
    )  # fmt: skip


def init(ctx: Ctx, force: bool = False) -> None:
    tf.write_override(ctx.root, ctx.endpoint, ctx.work / "emulated.tfstate")
    marker = ctx.work / f"initialized-{'emulated' if ctx.emulated else 'real'}"
    # the marker names the root it was made for: a data dir from before infra/platform (or a moved repo) re-inits
    done = marker.is_file() and marker.read_text() == str(ctx.root)
    if done and Path(ctx.proc_env["TF_DATA_DIR"]).is_dir() and not force:
        return
    args = ["init", "-input=false", "-reconfigure"]
    if not ctx.emulated:
        backend = ctx.dir / "backend.hcl"
        if not backend.is_file():
            raise InfraError(
                f"{backend} missing: copy backend.hcl.example next to it and fill in the state bucket"
            )
        args.append(f"-backend-config={backend}")
    r = tf.run(ctx.binary, args, ctx.root, ctx.proc_env)
    if r.returncode != 0:
        raise TfFailed(f"init failed for {ctx.env} (exit {r.returncode}): see the output above")
    marker.write_text(str(ctx.root))


@dataclass
class PlanResult:
    plan_file: Path
    json_file: Path
    changes: bool
    denies: list[str]


def plan(ctx: Ctx, destroy: bool = False) -> PlanResult:
    if not ctx.emulated:
        check_credentials(ctx)
    init(ctx)
    plan_file = ctx.work / ("destroy.tfplan" if destroy else "plan.tfplan")
    args = ["plan", "-input=false", "-detailed-exitcode", f"-out={plan_file}", *_tf_args_vars(ctx)]
    if destroy:
        args.append("-destroy")
    r = tf.run(ctx.binary, args, ctx.root, ctx.proc_env)
    if r.returncode not in (0, 2):
        raise TfFailed(f"plan failed for {ctx.env} (exit {r.returncode}): see the output above")
    shown = tf.run(
        ctx.binary, ["show", "-json", str(plan_file)], ctx.root, ctx.proc_env, capture=True, echo=False
    )
    if shown.returncode != 0:
        raise TfFailed(f"show -json failed: {shown.stderr.strip().splitlines()[-1:]}")
    json_file = ctx.work / ("destroy.plan.json" if destroy else "plan.json")
    json_file.write_text(shown.stdout)
    denies = (
        []
        if destroy
        else gate.evaluate(json.loads(shown.stdout), gate.load_policies(infra_dir() / "policies"))
    )
    return PlanResult(plan_file, json_file, r.returncode == 2, denies)


def report_gate(res: PlanResult) -> bool:
    if res.denies:
        print(f"policy gate: {len(res.denies)} deny(s):", file=sys.stderr)
        for d in res.denies:
            print(f"  - {d}", file=sys.stderr)
        return False
    print(f"policy gate: passed ({res.json_file})", file=sys.stderr)
    return True


def confirm(ctx: Ctx, what: str) -> None:
    if ctx.yes:
        return
    if not sys.stdin.isatty():
        raise InfraError(f"{what} needs confirmation: run in a terminal or pass --yes")
    answer = input(f"{what}? Type 'yes' to continue: ").strip()
    if answer != "yes":
        raise InfraError(f"{what}: cancelled")


def cmd_plan(ctx: Ctx) -> int:
    res = plan(ctx)
    print(f"plan JSON: {res.json_file}", file=sys.stderr)
    return OK if report_gate(res) else DENIED


def cmd_apply(ctx: Ctx) -> int:
    res = plan(ctx)
    if not report_gate(res):
        print(f"infra: refusing to apply {ctx.env}: the policy gate denied the plan", file=sys.stderr)
        return DENIED
    if not res.changes:
        print(f"{ctx.env}: no changes", file=sys.stderr)
        return OK
    confirm(ctx, f"Apply the plan above to {ctx.env}{' (emulated)' if ctx.emulated else ''}")
    r = tf.run(
        ctx.binary, ["apply", "-input=false", *_parallelism(), str(res.plan_file)], ctx.root, ctx.proc_env
    )
    if r.returncode != 0:
        raise TfFailed(f"apply failed for {ctx.env} (exit {r.returncode}): see the output above")
    return cmd_migrate(ctx)


def cmd_migrate(ctx: Ctx) -> int:
    """Run the env's one-off migration task (services/infractl/migrate.py) and wait for it."""
    if not ctx.emulated:
        check_credentials(ctx)
    init(ctx)
    out = tf.run(
        ctx.binary, ["output", "-json", "migrate_task"], ctx.root, ctx.proc_env, capture=True, echo=False
    )
    if out.returncode != 0:
        raise InfraError(f"no migrate_task output in {ctx.env}: apply it first (`infra apply {ctx.env}`)")
    spec = migrate.MigrateTask.from_output(json.loads(out.stdout))
    from platform_common.aws import client_config, sync_client

    env_backup = dict(os.environ)
    try:  # the AWS clients read the same environment tofu got (emulated: the moto endpoint and its keys)
        os.environ.update({k: v for k, v in ctx.proc_env.items() if k.startswith("AWS_")})
        cfg = client_config(max_attempts=3)
        migrate.run(spec, sync_client("ecs", cfg), sync_client("logs", cfg), timeout=_migrate_timeout())
    finally:
        os.environ.clear()
        os.environ.update(env_backup)
    return OK


def cmd_destroy(ctx: Ctx) -> int:
    if not ctx.emulated:
        check_credentials(ctx)
    init(ctx)
    confirm(ctx, f"DESTROY every resource of {ctx.env}{' (emulated)' if ctx.emulated else ''}")
    args = ["destroy", "-input=false", "-auto-approve", *_parallelism(), *_tf_args_vars(ctx)]
    r = tf.run(ctx.binary, args, ctx.root, ctx.proc_env)
    if r.returncode != 0:
        raise TfFailed(f"destroy failed for {ctx.env} (exit {r.returncode}): see the output above")
    return OK


def cmd_output(ctx: Ctx, name: str | None) -> int:
    """`tofu output` of the env (its backend and data dir): `-raw NAME` for one value, else all of them."""
    init(ctx)
    args = ["output", "-raw", name] if name else ["output"]
    r = tf.run(ctx.binary, args, ctx.root, ctx.proc_env, echo=False)
    if r.returncode != 0:
        raise TfFailed(f"output failed for {ctx.env} (exit {r.returncode}): see the output above")
    return OK


def cmd_init(ctx: Ctx) -> int:
    init(ctx, force=True)
    return OK


def cmd_gate(args: argparse.Namespace) -> int:
    path = Path(args.plan_json)
    if not path.is_file():
        raise InfraError(f"{path} not found: run `infra plan ENV` first (it writes .infra/plan.json)")
    denies = gate.evaluate_file(path, infra_dir() / "policies")
    return OK if report_gate(PlanResult(path, path, True, denies)) else DENIED


def cmd_iam_docs(args: argparse.Namespace) -> int:
    path = Path(args.plan_json)
    if not path.is_file():
        raise InfraError(f"{path} not found: run `infra --emulated plan {args.env}` first")
    files = iamdocs.render(args.env, json.loads(path.read_text()))
    for p in iamdocs.write(Path(args.out), files):
        print(f"wrote {p}", file=sys.stderr)
    return OK


def cmd_docs(args: argparse.Namespace) -> int:
    """The Inputs/Outputs tables of the root module's and every module's README."""
    stale = []
    for module in [root_dir(), *sorted((infra_dir() / "modules").iterdir())]:
        if (module / "variables.tf").is_file() and tfdocs.sync(module, check=args.check):
            stale.append(str(module.relative_to(infra_dir())))
    if args.check and stale:
        raise InfraError(f"README tables stale: {', '.join(stale)}; run `infra docs`")
    for name in stale:
        print(f"updated infra/{name}/README.md", file=sys.stderr)
    return OK


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="infra", description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument(
        "--emulated", action="store_true", help="target AWS_ENDPOINT_URL (moto); also INFRA_EMULATED=1"
    )
    p.add_argument("--yes", action="store_true", help="do not ask before apply/destroy")
    p.add_argument("--var", action="append", metavar="NAME=VALUE", help="pass -var to tofu (repeatable)")
    sub = p.add_subparsers(dest="command", required=True)
    for name, help_ in (
        ("init", "init the env (backend.hcl, or local state when emulated)"),
        ("plan", "plan, write the plan JSON, run the policy gate"),
        ("apply", "plan + gate, then apply after confirmation"),
        ("destroy", "destroy the env after confirmation"),
        ("migrate", "run the env's one-off migration task (airflow db migrate) and wait; apply does it too"),
    ):
        sp = sub.add_parser(name, help=help_)
        sp.add_argument("env", help="environment under infra/envs (dev, prod; local = the emulator's)")
    sp = sub.add_parser(
        "output", help="print the env's outputs (or one, raw), e.g. `infra output dev alb_dns_name`"
    )
    sp.add_argument("env", help="environment under infra/envs")
    sp.add_argument("name", nargs="?", help="one output, printed raw")
    sp = sub.add_parser("gate", help="run the policy gate over a plan JSON")
    sp.add_argument("plan_json")
    sp = sub.add_parser("iam-docs", help="render the IAM policies of a plan JSON to docs/iam/")
    sp.add_argument("env")
    sp.add_argument("plan_json")
    sp.add_argument("--out", default="docs/iam")
    sp = sub.add_parser(
        "docs", help="regenerate the Inputs/Outputs tables of the root and every module README"
    )
    sp.add_argument("--check", action="store_true", help="fail if any README is stale, change nothing")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "gate":
            return cmd_gate(args)
        if args.command == "iam-docs":
            return cmd_iam_docs(args)
        if args.command == "docs":
            return cmd_docs(args)
        ctx = make_ctx(args)
        if args.command == "output":
            return cmd_output(ctx, args.name)
        commands = {"init": cmd_init, "plan": cmd_plan, "apply": cmd_apply, "destroy": cmd_destroy}
        return {**commands, "migrate": cmd_migrate}[args.command](ctx)
    except (TfFailed, migrate.MigrateError) as exc:
        print(f"infra: error: {exc}", file=sys.stderr)
        return FAILED
    except (InfraError, gate.PolicyError) as exc:
        print(f"infra: error: {exc}", file=sys.stderr)
        return USAGE
    except KeyboardInterrupt:
        print("infra: interrupted", file=sys.stderr)
        return INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
