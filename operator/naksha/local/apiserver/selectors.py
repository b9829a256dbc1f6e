"""Label and field selectors, parsed once and matched many times (lists and watch fan-out)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any


class SelectorError(ValueError):
    """The selector cannot be parsed (answered 400)."""


_REQUIREMENT = re.compile(
    r"^\s*(?P<neg>!)?\s*(?P<key>[A-Za-z0-9][-A-Za-z0-9_./]*)\s*"
    r"(?:(?P<op>==|=|!=)\s*(?P<value>[-A-Za-z0-9_.]*)|\s+(?P<setop>in|notin)\s*\((?P<values>[^)]*)\))?\s*$"
)
Matcher = Callable[[Mapping[str, str]], bool]


def _equals(key: str, value: str) -> Matcher:
    return lambda labels: labels.get(key) == value


def _differs(key: str, value: str) -> Matcher:
    return lambda labels: labels.get(key) != value


def _within(key: str, values: frozenset[str]) -> Matcher:
    return lambda labels: labels.get(key) in values


def _outside(key: str, values: frozenset[str]) -> Matcher:
    return lambda labels: labels.get(key) not in values


def _exists(key: str) -> Matcher:
    return lambda labels: key in labels


def _absent(key: str) -> Matcher:
    return lambda labels: key not in labels


class LabelSelector:
    def __init__(
        self, matchers: list[Matcher], *, nothing: bool = False, equalities: tuple[tuple[str, str], ...] = ()
    ) -> None:
        self._matchers = matchers
        self._nothing = nothing
        # key=value requirements, which a list can answer from the store's label index.
        self.equalities = equalities

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        if self._nothing:
            return False
        labels = labels or {}
        return all(matcher(labels) for matcher in self._matchers)


def _split(text: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return [p for p in parts if p.strip()]


def parse_label_selector(text: str | None) -> LabelSelector:
    matchers: list[Matcher] = []
    equalities: list[tuple[str, str]] = []
    for part in _split(text or ""):
        match = _REQUIREMENT.match(part)
        if not match:
            raise SelectorError(f"unable to parse requirement: {part.strip()!r}")
        key, neg = match["key"], bool(match["neg"])
        if match["op"]:
            if neg:
                raise SelectorError(f"unable to parse requirement: {part.strip()!r}")
            value = match["value"]
            if match["op"] == "!=":
                matchers.append(_differs(key, value))
            else:
                matchers.append(_equals(key, value))
                equalities.append((key, value))
        elif match["setop"]:
            values = frozenset(v.strip() for v in match["values"].split(",") if v.strip())
            if match["setop"] == "in":
                matchers.append(_within(key, values))
            else:
                matchers.append(_outside(key, values))
        elif neg:
            matchers.append(_absent(key))
        else:
            matchers.append(_exists(key))
    return LabelSelector(matchers, equalities=tuple(equalities))


def label_selector_from_spec(spec: Mapping[str, Any] | None) -> LabelSelector:
    if spec is None:
        return LabelSelector([], nothing=True)
    matchers: list[Matcher] = []
    for key, value in (spec.get("matchLabels") or {}).items():
        matchers.append(_equals(str(key), str(value)))
    for expression in spec.get("matchExpressions") or []:
        key, operator = str(expression.get("key")), expression.get("operator")
        values = frozenset(str(v) for v in expression.get("values") or ())
        if operator == "In":
            matchers.append(_within(key, values))
        elif operator == "NotIn":
            matchers.append(_outside(key, values))
        elif operator == "Exists":
            matchers.append(_exists(key))
        elif operator == "DoesNotExist":
            matchers.append(_absent(key))
        else:
            raise SelectorError(f"{operator!r} is not a valid label selector operator")
    return LabelSelector(matchers)


class FieldSelector:
    def __init__(self, requirements: list[tuple[tuple[str, ...], bool, str]]) -> None:
        self._requirements = requirements

    @property
    def requirements(self) -> list[tuple[tuple[str, ...], bool, str]]:
        return self._requirements

    def matches(self, obj: Mapping[str, Any]) -> bool:
        for path, equal, value in self._requirements:
            node: Any = obj
            for part in path:
                node = node.get(part) if isinstance(node, Mapping) else None
            actual = "" if node is None else str(node).lower() if isinstance(node, bool) else str(node)
            if (actual == value) != equal:
                return False
        return True


def parse_field_selector(text: str | None) -> FieldSelector:
    requirements = []
    for part in re.split(r"(?<!\\),", text or ""):
        if not part.strip():
            continue
        match = re.match(r"^\s*([A-Za-z0-9_.]+)\s*(==|=|!=)\s*(.*?)\s*$", part)
        if not match:
            raise SelectorError(f"invalid field selector: {part.strip()!r}")
        value = re.sub(r"\\(.)", r"\1", match[3])
        requirements.append((tuple(match[1].split(".")), match[2] != "!=", value))
    return FieldSelector(requirements)
