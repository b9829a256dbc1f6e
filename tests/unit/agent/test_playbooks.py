"""Playbooks are validated before they run, with every problem named."""

from __future__ import annotations

from typing import Any

import pytest

from naksha.controllers.agentrun.playbooks import (
    BUILTIN,
    PlaybookError,
    parse_config_map,
    render_params,
    validate,
)
from naksha.models.agentrun import Graph


def graph(*nodes: dict[str, Any], start: str = "a") -> Graph:
    return Graph.model_validate({"start": start, "nodes": list(nodes)})


END = {"name": "end", "type": "end"}


def test_the_built_in_playbooks_are_valid():
    for name, playbook in BUILTIN.items():
        validate(playbook, source=name)


@pytest.mark.parametrize(
    ("nodes", "problem"),
    [
        (
            [{"name": "a", "type": "act", "wpk": "teleport", "next": "end"}, END],
            "unknown work package 'teleport'",
        ),
        (
            [{"name": "a", "type": "act", "wpk": "scale", "params": {"speed": 3}, "next": "end"}, END],
            "scale takes no parameter 'speed'",
        ),
        (
            [{"name": "a", "type": "observe", "wpk": "wait", "next": "end"}, END],
            "wait needs parameter 'duration'",
        ),
        (
            [{"name": "a", "type": "decide", "edges": [{"when": "state.__class__", "to": "end"}]}, END],
            "'.__class__' is not allowed",
        ),
        (
            [
                {"name": "a", "type": "act", "wpk": "scale", "params": {"delta": 1}, "next": "end"},
                END,
                {"name": "orphan", "type": "end"},
            ],
            "node orphan is unreachable",
        ),
        (
            [
                {"name": "a", "type": "observe", "wpk": "wait", "params": {"duration": "1s"}, "next": "b"},
                {"name": "b", "type": "decide", "edges": [{"to": "a"}]},
                END,
            ],
            "no end node can be reached",
        ),
        (
            [{"name": "a", "type": "observe", "wpk": "scale", "params": {"delta": 1}, "next": "end"}, END],
            "scale changes things; use it in an act node",
        ),
        (
            [
                {
                    "name": "a",
                    "type": "act",
                    "wpk": "scale",
                    "params": {"delta": "${state.x +}"},
                    "next": "end",
                },
                END,
            ],
            "template",
        ),
    ],
)
def test_each_kind_of_mistake_is_named(nodes, problem):
    with pytest.raises(PlaybookError) as caught:
        validate(graph(*nodes))
    assert problem in str(caught.value)


def test_a_config_map_playbook_is_parsed_and_validated():
    good = {
        "metadata": {"name": "mine"},
        "data": {
            "playbook.yaml": "start: a\nnodes:\n"
            "- {name: a, type: act, wpk: restart, next: z}\n- {name: z, type: end}\n"
        },
    }
    assert parse_config_map(good).start == "a"
    bad = {"metadata": {"name": "mine"}, "data": {"playbook.yaml": "start: a\nnodes: []\n"}}
    with pytest.raises(PlaybookError, match="playbook mine"):
        parse_config_map(bad)


def test_templates_are_rendered_from_the_run():
    params = {"delta": "${inputs.step or 2}", "stream": "${signal.stream}", "fixed": 3}
    rendered = render_params(params, {"inputs": {}, "signal": {"stream": "s1"}, "state": {}, "target": {}})
    assert rendered == {"delta": 2, "stream": "s1", "fixed": 3}


def test_templates_inside_text_and_nested_parameters_are_rendered_too():
    params = {
        "reason": "anomaly on ${signal.stream}/${signal.detector} (x${inputs.step or 2})",
        "patch": {"spec": {"replicas": "${state.replicas + 1}"}, "tags": ["${signal.stream}", "fixed"]},
    }
    variables = {"inputs": {}, "signal": {"stream": "s1", "detector": "p99"}, "state": {"replicas": 3}}
    assert render_params(params, {**variables, "target": {}}) == {
        "reason": "anomaly on s1/p99 (x2)",
        "patch": {"spec": {"replicas": 4}, "tags": ["s1", "fixed"]},
    }


def test_a_bad_expression_inside_text_is_found_when_the_playbook_loads():
    nodes = [
        {
            "name": "a",
            "type": "act",
            "wpk": "notify",
            "params": {"message": "value ${__import__('os')}"},
            "next": "end",
        },
        END,
    ]
    with pytest.raises(PlaybookError, match="template"):
        validate(graph(*nodes))
