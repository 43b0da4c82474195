"""Settings model -> command-line flags and the README option tables: one pattern for every service's CLI.

A service declares its options once, as a ``pydantic_settings.BaseSettings`` model (``env_prefix``, a ``Field``
``description`` per option, constraints as ``Field``/``Literal``). From that model:

- ``add_flags`` adds one ``--flag`` per field (``--field-name``, or ``Field(json_schema_extra={"flag": "--x"})``);
  booleans get ``--x`` / ``--no-x`` (``--x true|false`` is accepted too); help = description + env var + default;
- ``given`` returns the flags the user actually gave, for ``platform_common.settings.load_settings``
  (flag > env var > default);
- ``option_table`` renders the Markdown table the service's README embeds (scripts/settings_docs.py).

Exit codes: services/platform_common/exitcodes.py.
"""

from __future__ import annotations

import argparse
import types
import typing
from collections.abc import Iterable, Sequence
from typing import Any, Literal

from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings

from .exitcodes import USAGE
from .redact import redact_text

TRUE, FALSE = "true", "false"
NONE = "\u2013"  # an en dash: "no default" in help and tables


def env_var(cls: type[BaseSettings], name: str) -> str:
    return f"{cls.model_config.get('env_prefix', '')}{name}".upper()


def _extra(field: FieldInfo) -> dict[str, Any]:
    extra = field.json_schema_extra
    return extra if isinstance(extra, dict) else {}


def flag(name: str, field: FieldInfo) -> str:
    return str(_extra(field).get("flag") or f"--{name.replace('_', '-')}")


def _core(annotation: Any) -> Any:
    """``Annotated[X, ...]`` / ``X | None`` -> ``X``."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(args) != 1:
                return annotation
            annotation = args[0]
        else:
            return annotation


def choices(field: FieldInfo) -> tuple[str, ...] | None:
    core = _core(field.annotation)
    if typing.get_origin(core) is Literal:
        return tuple(str(c) for c in typing.get_args(core))
    if isinstance(core, type) and hasattr(core, "__members__"):  # an Enum
        return tuple(str(getattr(m, "value", m)) for m in core.__members__.values())
    return None


def is_switch(field: FieldInfo) -> bool:
    return _core(field.annotation) is bool


def default_text(field: FieldInfo) -> str:
    """The default as a person would type it; secrets redacted; ``NONE`` when there is none."""
    value = field.get_default(call_default_factory=True)
    if hasattr(value, "get_secret_value"):
        value = redact_text(value.get_secret_value())
    if value is None or value == "" or value == []:
        return NONE
    if isinstance(value, bool):
        return TRUE if value else FALSE
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    return str(getattr(value, "value", value))


def _metavar(field: FieldInfo) -> str:
    options = choices(field)
    if options:
        return "{" + ",".join(options) + "}"
    core = _core(field.annotation)
    return {int: "N", float: "X"}.get(core, "V")


class _Switch(argparse.Action):
    """``--x`` -> true, ``--no-x`` -> false, ``--x VALUE`` -> VALUE (validated by the model)."""

    def __call__(
        self, parser: argparse.ArgumentParser, ns: argparse.Namespace, values: Any, option: str | None = None
    ) -> None:
        if option is not None and option.startswith("--no-"):
            setattr(ns, self.dest, FALSE)
        else:
            setattr(ns, self.dest, TRUE if values is None else values)


class OneLineParser(argparse.ArgumentParser):
    """Usage errors as one line on stderr, exit ``USAGE`` (2), like every other error of the CLIs."""

    def error(self, message: str) -> typing.NoReturn:
        self.exit(USAGE, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def add_flags(
    parser: argparse.ArgumentParser,
    cls: type[BaseSettings],
    names: Iterable[str] | None = None,
    *,
    repeatable: Sequence[str] = (),
) -> None:
    """One flag per field in ``names`` (default: every field). ``repeatable``: comma-list fields whose flag may be
    given several times (joined with "," by ``given``)."""
    for name in names if names is not None else cls.model_fields:
        field = cls.model_fields[name]
        opt = flag(name, field)
        help_ = f"{field.description or name.replace('_', ' ')} (env {env_var(cls, name)}; default {default_text(field)})"
        help_ = help_.replace("%", "%%")
        if is_switch(field):
            parser.add_argument(
                opt, dest=name, default=None, nargs="?", metavar="true|false", action=_Switch, help=help_
            )
            parser.add_argument(
                f"--no-{opt[2:]}", dest=name, default=None, nargs=0, action=_Switch, help="= false"
            )
        elif name in repeatable:
            parser.add_argument(
                opt, dest=name, default=None, action="append", metavar=_metavar(field), help=help_
            )
        elif choices(
            field
        ):  # a flag outside the choices is a usage error (argparse); env values: the model's
            parser.add_argument(
                opt, dest=name, default=None, type=str.lower, choices=choices(field), help=help_
            )
        else:
            core = _core(field.annotation)
            kind: dict[str, Any] = {"type": core} if core in (int, float) else {}  # "--n lots": a usage error
            parser.add_argument(opt, dest=name, default=None, metavar=_metavar(field), help=help_, **kind)


def given(ns: argparse.Namespace, cls: type[BaseSettings]) -> dict[str, Any]:
    """The settings the user passed as flags (repeated flags joined with ","), for ``load_settings``."""
    out: dict[str, Any] = {}
    for name in cls.model_fields:
        value = getattr(ns, name, None)
        if value is None:
            continue
        out[name] = ",".join(value) if isinstance(value, list) else value
    return out


def option_table(
    cls: type[BaseSettings], names: Iterable[str] | None = None, *, where: dict[str, str] | None = None
) -> str:
    """Markdown table of the options: flag, env var, default, (commands,) description."""
    head = ["flag", "env var", "default"] + (["commands"] if where else []) + ["description"]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name in names if names is not None else cls.model_fields:
        field = cls.model_fields[name]
        opt = flag(name, field)
        shown = f"`{opt}` / `--no-{opt[2:]}`" if is_switch(field) else f"`{opt}`"
        options = choices(field)
        desc = (field.description or "").replace("|", "\\|")
        if options and not all(f"`{o}`" in desc for o in options):
            desc += f" ({', '.join(options)})" if desc else ", ".join(options)
        default = default_text(field).replace("|", "\\|")
        cells = [shown, f"`{env_var(cls, name)}`", default if default == NONE else f"`{default}`"]
        if where:
            cells.append(where.get(name, ""))
        rows.append("| " + " | ".join([*cells, desc]) + " |")
    return "\n".join(rows) + "\n"
