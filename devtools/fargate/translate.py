"""The local Fargate runner's declared translation table: the only things a container gets that its task
definition does not say. Everything here is pure (strings in, strings out); the runner applies it.

==============================  ================================================================================
What                            How it runs here
==============================  ================================================================================
1. image repository             ``*-airflow-airflow``, ``*-airflow-dagsync``, ``*-airflow-services``: the final
                                stage of images/<name>/Dockerfile (ENTRYPOINT, CMD, ENV, WORKDIR, USER, and every
                                ``COPY <repo file> <image path>``), parsed from the Dockerfile itself. Image paths
                                map to the checkout (:data:`PROJECT_IMAGES`): the venvs (/opt/airflow/venv ->
                                .venv-airflow, /opt/platform -> .venv), COPY'd files -> their repo files
                                (executables in a bin dir on PATH through a per-image shim dir), and the image's
                                writable dirs (/opt/airflow = AIRFLOW_HOME, /tmp) -> per-container dirs. The config
                                file may add images (``images``), e.g. one that maps to /bin/sh.
2. AWS host names               config ``hosts``: ``{"<aws host>:<port>": "<local host>:<port>"}`` (or URL
                                origins ``{"https://<aws host>": "http://127.0.0.1:8080"}``). ``host:port`` pairs
                                are rewritten in env values, secret values, command args and health-check
                                commands; an env var whose value is exactly a mapped host gets the local host, and
                                its sibling (HOST -> PORT in the name) the local port if it holds the AWS port; the
                                same for a JSON secret's ``host``/``port`` fields. Secret values get nothing else.
3. ports replicas would share   each task's listening ports (portMappings containerPorts, plus an image's implicit
                                listeners, e.g. Airflow's worker log server 8793) get a free host port per task;
                                env values / args equal to a portMappings port, and ``127.0.0.1:P``,
                                ``localhost:P``, ``0.0.0.0:P`` in env, args and health checks are rewritten.
                                Config ``fronts`` (``{"<service>:<containerPort>": "<host>:<port>"}``) are TCP
                                proxies to the service's RUNNING (and healthy) tasks: the local ALB/service
                                discovery.
4. paths                        mountPoints containerPath -> the volume's local dir, and the image path map (longest
                                prefix first, on path boundaries) in env values, args and health checks.
5. what Fargate injects         AWS_REGION/AWS_DEFAULT_REGION, HOSTNAME = the task ENI's privateDnsName (every task
                                has its own UTS name on Fargate: as root the runner gives each task one with
                                ``unshare --uts``; otherwise ``hostname`` on PATH prints HOSTNAME), the credentials
                                endpoint (AWS_CONTAINER_CREDENTIALS_FULL_URI + AWS_CONTAINER_AUTHORIZATION_TOKEN, only
                                with a task role), ECS_CONTAINER_METADATA_URI_V4; and AWS_ENDPOINT_URL = the emulator
                                (on AWS the VPC endpoints' private DNS does that job); SSL_CERT_FILE = the config's
                                ``trust_bundle`` when given (the system CAs + the local stand-ins' CA: on AWS the RDS
                                and ElastiCache certificates chain to CAs the image already trusts).
==============================  ================================================================================

The runner's own environment (AWS_*, AWS_CA_BUNDLE, ...) never reaches a container.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent
DOCKER_DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
IMAGE_TMP = "/tmp"  # noqa: S108 - a path inside an image; each container gets its own local dir for it


# --- 1. images ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ImageRule:
    """How one project image runs from the checkout (the Dockerfile gives the rest)."""

    dockerfile: str  # repo-relative
    paths: Mapping[str, str]  # image path -> repo-relative path (what COPY --from=build brings)
    writable: tuple[str, ...] = (IMAGE_TMP,)  # image dirs each container gets its own empty copy of
    implicit_ports: Mapping[str, int] = field(default_factory=dict)  # env var -> default port it listens on


# Repository-name suffix -> rule. Keep in step with images/*/Dockerfile (tests/devtools check every COPY is covered).
PROJECT_IMAGES: dict[str, ImageRule] = {
    "-airflow-airflow": ImageRule(
        "images/airflow/Dockerfile",
        {"/opt/airflow/venv": ".venv-airflow", "/opt/airflow/lib": "images/airflow"},
        writable=("/opt/airflow", IMAGE_TMP),
        implicit_ports={
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": 8793,
            "AIRFLOW__LOGGING__TRIGGERER_LOG_SERVER_PORT": 8794,
            "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT": 8974,
        },
    ),
    "-airflow-dagsync": ImageRule("images/dagsync/Dockerfile", {"/opt/platform": ".venv"}),
    "-airflow-services": ImageRule("images/services/Dockerfile", {"/opt/platform": ".venv"}),
}


@dataclass(frozen=True)
class ImageSpec:
    """An image as the runner runs it: argv defaults, env, and where its paths are in the checkout."""

    name: str
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)  # image paths, not yet translated
    workdir: str = ""
    user: str = ""
    paths: Mapping[str, str] = field(default_factory=dict)  # image path -> absolute local path
    executables: Mapping[str, str] = field(
        default_factory=dict
    )  # image path of a COPY'd program -> local file
    writable: tuple[str, ...] = ()
    implicit_ports: Mapping[str, int] = field(default_factory=dict)


class DockerfileError(ValueError):
    pass


def _logical_lines(text: str) -> list[str]:
    out: list[str] = []
    buf = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not buf and (not line or line.startswith("#")):
            continue
        if buf and line.startswith("#"):
            continue
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        buf += line
        if buf.strip():
            out.append(buf.strip())
        buf = ""
    if buf.strip():
        out.append(buf.strip())
    return out


_VAR = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))")


def _expand(value: str, scope: Mapping[str, str]) -> str:
    def sub(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(3)
        if name in scope:
            return scope[name]
        return m.group(2) or ""

    return _VAR.sub(sub, value)


def _pairs(rest: str, scope: Mapping[str, str]) -> list[tuple[str, str]]:
    """``ENV``/``ARG`` arguments: ``K=V K2="v 2"`` (or the legacy ``ENV K V``)."""
    words = shlex.split(rest, posix=True)
    if words and "=" not in words[0]:
        return [(words[0], _expand(" ".join(words[1:]), scope))]
    out = []
    for w in words:
        key, eq, value = w.partition("=")
        out.append((key, _expand(value, scope) if eq else scope.get(key, "")))
    return out


def _exec_form(rest: str) -> tuple[str, ...]:
    rest = rest.strip()
    if rest.startswith("["):
        try:
            return tuple(str(x) for x in json.loads(rest))
        except json.JSONDecodeError as exc:
            raise DockerfileError(f"bad exec form {rest!r}: {exc}") from None
    return ("/bin/sh", "-c", rest)


def parse_dockerfile(text: str) -> dict[str, object]:
    """The final stage of a Dockerfile: entrypoint, cmd, env (ordered), workdir, user and repo COPYs.

    ARGs (global and in-stage) and earlier ENVs expand ``$VAR``/``${VAR}``; PATH starts as Docker's default.
    """
    global_args: dict[str, str] = {}
    stage: dict[str, object] | None = None
    scope: dict[str, str] = {}
    for line in _logical_lines(text):
        instr, _, rest = line.partition(" ")
        instr = instr.upper()
        if instr == "FROM":
            scope = {**global_args, "PATH": DOCKER_DEFAULT_PATH}
            stage = {"entrypoint": (), "cmd": (), "env": {}, "workdir": "", "user": "", "copies": []}
            continue
        if stage is None:
            if instr == "ARG":
                for k, v in _pairs(rest, global_args):
                    global_args[k] = v
            continue
        if instr == "ARG":
            for k, v in _pairs(rest, scope):
                scope[k] = v if v or k not in scope else scope[k]
        elif instr == "ENV":
            env = stage["env"]
            assert isinstance(env, dict)
            for k, v in _pairs(rest, scope):
                env[k] = v
            for k, v in _pairs(rest, scope):
                scope[k] = v
        elif instr == "ENTRYPOINT":
            stage["entrypoint"] = _exec_form(rest)
            stage["cmd"] = ()  # Docker: a new ENTRYPOINT resets an inherited CMD
        elif instr == "CMD":
            stage["cmd"] = _exec_form(rest)
        elif instr == "WORKDIR":
            stage["workdir"] = _expand(rest.strip(), scope)
        elif instr == "USER":
            stage["user"] = _expand(rest.strip(), scope)
        elif instr in ("COPY", "ADD"):
            words = [w for w in shlex.split(rest) if not w.startswith("--")]
            if any(w.startswith("--from") for w in shlex.split(rest)) or len(words) < 2:
                continue
            copies = stage["copies"]
            assert isinstance(copies, list)
            dest = _expand(words[-1], scope)
            for src in words[:-1]:
                copies.append((src, dest))
    if stage is None:
        raise DockerfileError("no FROM line")
    return stage


def project_image(suffix: str, rule: ImageRule, repo: Path = REPO) -> ImageSpec:
    stage = parse_dockerfile((repo / rule.dockerfile).read_text())
    paths = {img: str(repo / rel) for img, rel in rule.paths.items()}
    executables: dict[str, str] = {}
    copies = stage["copies"]
    assert isinstance(copies, list)
    for src, dest in copies:
        local = str(repo / src)
        if dest.endswith("/"):  # COPY a b /dir/: keeps the file name
            dest = dest + Path(src).name
        if dest.rsplit("/", 1)[0] in ("/usr/local/bin", "/usr/bin", "/bin", "/usr/local/sbin"):
            executables[dest] = local
        else:
            paths[dest] = local
    env = stage["env"]
    assert isinstance(env, dict)
    return ImageSpec(
        name=suffix,
        entrypoint=stage["entrypoint"],  # type: ignore[arg-type]
        cmd=stage["cmd"],  # type: ignore[arg-type]
        env=dict(env),
        workdir=str(stage["workdir"]),
        user=str(stage["user"]),
        paths=paths,
        executables=executables,
        writable=rule.writable,
        implicit_ports=dict(rule.implicit_ports),
    )


def image_from_config(name: str, spec: Mapping[str, object]) -> ImageSpec:
    """An extra image from the config file: {"entrypoint": [...], "cmd": [...], "env": {...}, "workdir": "...",
    "paths": {"/image/path": "/local/path"}, "writable": ["/tmp"], "ports": {"ENV_VAR": 1234}}."""
    known = {"entrypoint", "cmd", "env", "workdir", "user", "paths", "writable", "ports"}
    unknown = set(spec) - known
    if unknown:
        raise ValueError(
            f"image {name!r}: unknown key(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(known))}"
        )

    def strs(key: str) -> tuple[str, ...]:
        value = spec.get(key) or []
        if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
            raise ValueError(f"image {name!r}: {key} must be a list of strings")
        return tuple(value)

    def smap(key: str) -> dict[str, str]:
        value = spec.get(key) or {}
        if not isinstance(value, dict):
            raise ValueError(f"image {name!r}: {key} must be an object")
        return {str(k): str(v) for k, v in value.items()}

    ports = spec.get("ports") or {}
    if not isinstance(ports, dict):
        raise ValueError(f"image {name!r}: ports must be an object of ENV_VAR: port")
    return ImageSpec(
        name=name,
        entrypoint=strs("entrypoint"),
        cmd=strs("cmd"),
        env=smap("env"),
        workdir=str(spec.get("workdir") or ""),
        user=str(spec.get("user") or ""),
        paths=smap("paths"),
        writable=strs("writable") or (IMAGE_TMP,),
        implicit_ports={str(k): int(v) for k, v in ports.items()},
    )


def repository(image: str) -> str:
    """``123.dkr.ecr.../org-airflow-airflow:1.2@sha256:..`` -> ``org-airflow-airflow``."""
    ref = image.split("@", 1)[0]
    last = ref.rsplit("/", 1)[-1]
    return last.split(":", 1)[0]


def match_image(image: str, images: Mapping[str, ImageSpec]) -> ImageSpec | None:
    """An image by its exact reference, its repository name, or a repository suffix (keys starting with '-')."""
    if image in images:
        return images[image]
    repo = repository(image)
    if repo in images:
        return images[repo]
    for key, spec in sorted(images.items(), key=lambda kv: -len(kv[0])):
        if key.startswith("-") and repo.endswith(key):
            return spec
    return None


def docker_argv(
    image: ImageSpec, entry_point: Sequence[str] | None, command: Sequence[str] | None
) -> list[str]:
    """Docker's rule: a container entryPoint replaces ENTRYPOINT (and drops CMD unless a command is given);
    a command replaces CMD."""
    if entry_point:
        return [*entry_point, *(command or [])]
    return [*image.entrypoint, *(command if command else image.cmd)]


# --- 2.-4. rewriting ---------------------------------------------------------------------------------------------
_PATH_CHARS = r"A-Za-z0-9_.\-/"


@dataclass(frozen=True)
class Rewriter:
    """Rewrites one container's strings: hosts, ports and paths (see the module docstring, rows 2-4)."""

    hosts: Mapping[str, str] = field(default_factory=dict)  # "aws-host:port" -> "local:port"; or URL origins
    ports: Mapping[int, int] = field(default_factory=dict)  # container port -> host port (this task)
    exact_ports: frozenset[int] = frozenset()  # ports rewritten when a value/arg is exactly that port
    paths: Sequence[tuple[str, str]] = ()  # (image path, local path)

    def _path_re(self) -> re.Pattern[str] | None:
        if not self.paths:
            return None
        alts = "|".join(
            re.escape(p.rstrip("/") or "/") for p, _ in sorted(self.paths, key=lambda x: -len(x[0]))
        )
        return re.compile(rf"(?<![{_PATH_CHARS}])({alts})(?=/|$|[^{_PATH_CHARS}])")

    def hosts_only(self, s: str) -> str:
        """Row 2 alone (secret values: hosts are rewritten, never ports or paths)."""
        for origin, local in self.hosts.items():
            if "://" in origin:
                s = re.sub(rf"{re.escape(origin.rstrip('/'))}(?![A-Za-z0-9.\-:])", local.rstrip("/"), s)
        for aws, local in self.hosts.items():
            if "://" not in aws:
                s = re.sub(rf"(?<![A-Za-z0-9.\-]){re.escape(aws)}(?![0-9])", local, s)
        return s

    def text(self, s: str) -> str:
        # ports first: a host mapped to a local server below must keep its (local) port
        if self.ports:

            def port(m: re.Match[str]) -> str:
                p = int(m.group(2))
                return f"{m.group(1)}:{self.ports.get(p, p)}"

            s = re.sub(r"(?<![A-Za-z0-9.\-])(127\.0\.0\.1|localhost|0\.0\.0\.0):(\d{1,5})(?![0-9])", port, s)
        s = self.hosts_only(s)
        rx = self._path_re()
        if rx is not None:
            table = {p.rstrip("/") or "/": local for p, local in self.paths}
            s = rx.sub(lambda m: table[m.group(1)], s)
        return s

    def arg(self, s: str) -> str:
        if s.isdigit() and int(s) in self.exact_ports:
            return str(self.ports[int(s)])
        return self.text(s)

    def _host_ports(self) -> dict[str, dict[str, str]]:
        """aws host -> {aws port: "local host:local port"}."""
        host_ports: dict[str, dict[str, str]] = {}
        for aws, local in self.hosts.items():
            if "://" in aws:
                continue
            host, _, port = aws.rpartition(":")
            lhost, _, lport = local.rpartition(":")
            host_ports.setdefault(host, {})[port] = f"{lhost}:{lport}"
        return host_ports

    def secret(self, value: str) -> str:
        """A secret value: host rewriting only; in a JSON object (e.g. an RDS secret's host/port) a field that is exactly a
        mapped host gets the local host and its sibling field (host -> port) the local port."""
        try:
            data = json.loads(value)
        except (json.JSONDecodeError, TypeError):
            return self.hosts_only(value)
        if not isinstance(data, dict):
            return self.hosts_only(value)
        host_ports = self._host_ports()
        out = {k: self.hosts_only(v) if isinstance(v, str) else v for k, v in data.items()}
        for key, v in data.items():
            if isinstance(v, str) and v in host_ports:
                choices = host_ports[v]
                sib = next(
                    (k for k in data if k.lower() == key.lower().replace("host", "port") and k != key), None
                )
                aws_port = str(data[sib]) if sib is not None else ""
                lhost, _, lport = (choices.get(aws_port) or next(iter(choices.values()))).rpartition(":")
                out[key] = lhost
                if sib is not None and aws_port in choices:
                    out[sib] = int(lport) if isinstance(data[sib], int) else lport
        return json.dumps(out)

    def env(self, env: Mapping[str, str]) -> dict[str, str]:
        host_ports = self._host_ports()
        out: dict[str, str] = {}
        for key, value in env.items():
            out[key] = self.arg(value)
        for key, value in env.items():
            if value in host_ports:
                choices = host_ports[value]
                sibling = _sibling_port_var(key)
                aws_port = env.get(sibling, "") if sibling else ""
                target = choices.get(aws_port) or next(iter(choices.values()))
                lhost, _, lport = target.rpartition(":")
                out[key] = lhost
                if sibling and aws_port in choices:
                    out[sibling] = lport
        return out


def _sibling_port_var(name: str) -> str | None:
    i = name.rfind("HOST")
    return None if i < 0 else name[:i] + "PORT" + name[i + 4 :]


def paths_table(items: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """Longest image path first (the rewriter's order); later duplicates win."""
    table = dict(items)
    return sorted(table.items(), key=lambda kv: -len(kv[0]))


# --- secrets -----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SecretRef:
    kind: str  # "asm" (Secrets Manager) or "ssm" (Parameter Store)
    secret_id: str  # ARN (full or partial) or name
    json_key: str = ""
    version_stage: str = ""
    version_id: str = ""


def parse_secret_ref(value_from: str) -> SecretRef:
    """ECS ``secrets[].valueFrom``: a Secrets Manager ARN, optionally ``:json-key:version-stage:version-id``;
    an SSM parameter ARN; or a bare name (ECS: a parameter name; here also a Secrets Manager name if no such
    parameter exists)."""
    if value_from.startswith("arn:"):
        parts = value_from.split(":")
        if len(parts) >= 6 and parts[2] == "ssm":
            name = value_from.split(":parameter", 1)[1]
            return SecretRef(
                "ssm", name if name.startswith("/") and name.count("/") > 1 else name.lstrip("/")
            )
        if len(parts) >= 7 and parts[2] == "secretsmanager" and parts[5] == "secret":
            base = ":".join(parts[:7])
            extra = [*parts[7:], "", "", ""][:3]
            return SecretRef("asm", base, extra[0], extra[1], extra[2])
        raise ValueError(f"unsupported secret ARN {value_from!r}: only secretsmanager and ssm")
    return SecretRef("ssm", value_from)


def select_json_key(secret_string: str, key: str) -> str | None:
    """The json-key of a secret (as a string; objects/numbers as JSON), or None if absent."""
    try:
        data = json.loads(secret_string)
    except json.JSONDecodeError:
        return None
    if not isinstance(data, dict) or key not in data:
        return None
    value = data[key]
    return value if isinstance(value, str) else json.dumps(value)
