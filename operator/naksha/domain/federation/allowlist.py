"""The edge agent's allow-list: which local work packages it runs, and the exact commands they may run.

A verified trigger only says what the hub asks; this list says what the node is willing to do.
``plan`` turns a trigger's WPK and parameters into an ``Execution`` (an argv, never a shell
line, or a URL to probe) or refuses: a WPK outside ``capabilities`` is 403 WpkNotAllowed; a
``run-command`` names one of the configured commands, and each of its parameters must match that
command's pattern in full before it fills a ``{placeholder}`` of the argument template.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from naksha.domain.federation.refusals import RefusalReason, Refused

HTTP_CHECK = "http-check"
RUN_COMMAND = "run-command"
COLLECT_DIAGNOSTICS = "collect-diagnostics"
RESTART_SERVICE = "restart-service"
LOCAL_WPKS = (HTTP_CHECK, RUN_COMMAND, COLLECT_DIAGNOSTICS, RESTART_SERVICE)
LocalWpk = Literal["http-check", "run-command", "collect-diagnostics", "restart-service"]


def _default_capabilities() -> list[LocalWpk]:
    return ["http-check", "collect-diagnostics"]


MAX_PARAM_CHARS = 1024


def _placeholders(argv: list[str]) -> set[str]:
    names: set[str] = set()
    for arg in argv:
        for _, field, _, _ in string.Formatter().parse(arg):
            if field is not None:
                if not field.isidentifier():
                    raise ValueError(f"placeholder {{{field}}} must be a plain name")
                names.add(field)
    return names


class CommandTemplate(BaseModel):
    """One command the hub may ask for by name: an argv template and a pattern per parameter."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    argv: list[str] = Field(min_length=1)
    params: dict[str, str] = Field(default_factory=dict, description="parameter -> full-match regex")
    timeout_seconds: float = Field(default=30.0, gt=0, le=3600, alias="timeoutSeconds")

    @model_validator(mode="after")
    def _placeholders_declared(self) -> CommandTemplate:
        used = _placeholders(self.argv)
        if used - set(self.params):
            raise ValueError(f"placeholders without a pattern: {sorted(used - set(self.params))}")
        for name, pattern in self.params.items():
            re.compile(pattern)
            if name not in used:
                raise ValueError(f"parameter {name!r} is not used in argv")
        return self

    def render(self, params: Mapping[str, Any]) -> list[str]:
        extra = set(params) - set(self.params)
        if extra:
            raise Refused(400, RefusalReason.BAD_PARAMETERS, f"unexpected parameters {sorted(extra)}")
        values: dict[str, str] = {}
        for name, pattern in self.params.items():
            value = params.get(name)
            if not isinstance(value, str | int) or isinstance(value, bool):
                raise Refused(
                    400, RefusalReason.BAD_PARAMETERS, f"parameter {name!r} missing or not a string"
                )
            text = str(value)
            if len(text) > MAX_PARAM_CHARS or not re.fullmatch(pattern, text):
                raise Refused(
                    400, RefusalReason.BAD_PARAMETERS, f"parameter {name!r} does not match {pattern!r}"
                )
            values[name] = text
        # Each template argument becomes exactly one argument: a value can never split or add one.
        return [arg.format_map(values) for arg in self.argv]


class AgentConfig(BaseModel):
    """The edge agent's configuration file (YAML or JSON)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    capabilities: list[LocalWpk] = Field(default_factory=_default_capabilities)
    commands: dict[str, CommandTemplate] = Field(default_factory=dict)
    restart_service: CommandTemplate | None = Field(
        default=None, alias="restartService", description="argv with a {service} placeholder"
    )
    http_check_prefixes: list[str] = Field(
        default_factory=list, alias="httpCheckPrefixes", description="URLs an http-check may probe start so"
    )
    diagnostics: list[list[str]] = Field(
        default_factory=lambda: [["uname", "-a"], ["uptime"], ["df", "-h"]],
        description="fixed commands whose output collect-diagnostics returns",
    )

    @field_validator("commands")
    @classmethod
    def _names(cls, value: dict[str, CommandTemplate]) -> dict[str, CommandTemplate]:
        for name in value:
            if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,62}", name):
                raise ValueError(f"command name {name!r} must be a DNS label")
        return value


@dataclass(frozen=True)
class Execution:
    """What the agent will do for a trigger: run ``argv`` (or each of ``diagnostics``), or probe ``url``."""

    wpk: str
    argv: tuple[str, ...] = ()
    diagnostics: tuple[tuple[str, ...], ...] = ()
    url: str = ""
    timeout: float = 30.0


def plan(config: AgentConfig, wpk: str, params: Any) -> Execution:
    """The execution a trigger asks for, if the allow-list permits it; Refused otherwise."""
    if wpk not in config.capabilities:
        raise Refused(
            403, RefusalReason.WPK_NOT_ALLOWED, f"work package {wpk!r} is not in this node's allow-list"
        )
    if not isinstance(params, Mapping):
        raise Refused(400, RefusalReason.BAD_PARAMETERS, "params must be an object")
    if wpk == RUN_COMMAND:
        name = params.get("command")
        template = config.commands.get(name) if isinstance(name, str) else None
        if template is None:
            raise Refused(
                403, RefusalReason.WPK_NOT_ALLOWED, f"command {name!r} is not configured on this node"
            )
        args = params.get("args", {})
        if not isinstance(args, Mapping):
            raise Refused(400, RefusalReason.BAD_PARAMETERS, "args must be an object")
        return Execution(wpk, argv=tuple(template.render(args)), timeout=template.timeout_seconds)
    if wpk == RESTART_SERVICE:
        if config.restart_service is None:
            raise Refused(403, RefusalReason.WPK_NOT_ALLOWED, "no restart command is configured on this node")
        template = config.restart_service
        return Execution(wpk, argv=tuple(template.render(params)), timeout=template.timeout_seconds)
    if wpk == HTTP_CHECK:
        url = params.get("url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise Refused(400, RefusalReason.BAD_PARAMETERS, "http-check needs an http(s) url")
        if not any(url.startswith(prefix) for prefix in config.http_check_prefixes):
            raise Refused(403, RefusalReason.WPK_NOT_ALLOWED, f"url {url!r} is outside httpCheckPrefixes")
        timeout = params.get("timeoutSeconds", 5.0)
        if not isinstance(timeout, int | float) or isinstance(timeout, bool) or not 0 < timeout <= 60:
            raise Refused(400, RefusalReason.BAD_PARAMETERS, "timeoutSeconds must be a number in (0, 60]")
        return Execution(wpk, url=url, timeout=float(timeout))
    return Execution(wpk, diagnostics=tuple(tuple(command) for command in config.diagnostics))
