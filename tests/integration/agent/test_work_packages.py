"""Each work package plans absolute values, applies them once however often it is replayed, and reverts."""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from kubernetes import client
from tests.support import ROOT, eventually, spec_changes
from tests.support.agentruns import deployment

from naksha.controllers.agentrun.wpk import NotYet, WpkContext, WpkError, lookup
from naksha.kube import Kube
from naksha.models.common import ObjectTarget
from naksha.models.group import GROUP, VERSION


@pytest.fixture
def kube(api_client: client.ApiClient, naksha_crds: None) -> Kube:
    return Kube(api_client)


def context(kube: Kube, namespace: str, kind: str | None = None, name: str = "", **fields: Any) -> WpkContext:
    target = ObjectTarget(kind=kind, name=name) if kind else None
    return WpkContext(kube, namespace, "run-1", target, {}, key="k" * 32, **fields)


def apply(ctx: WpkContext, wpk: str, params: dict[str, Any], *, times: int = 1) -> tuple[Any, dict[str, Any]]:
    """Plan once, apply the plan ``times`` times (a replay after a crash); the plan and last result."""
    package = lookup(wpk)
    parsed = package.parse_params(params)
    plan = package.plan(ctx, parsed)
    result: dict[str, Any] = {}
    for _ in range(times):
        result = package.apply(ctx, parsed, plan)
    return plan, result


def revert(ctx: WpkContext, wpk: str, params: dict[str, Any], plan: Any) -> None:
    package = lookup(wpk)
    assert package.revert is not None
    package.revert(ctx, package.parse_params(params), plan)


class Receiver:
    """A loopback HTTP server that records what is POSTed and answers GETs with a chosen status."""

    def __init__(self) -> None:
        self.posted: list[Any] = []
        self.status = 200
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                receiver.posted.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self._answer(202)

            def do_GET(self) -> None:
                self._answer(receiver.status)

            def _answer(self, status: int) -> None:
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                """Quiet: the server's access log would only clutter the test output."""

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.server.shutdown()


def test_scale_clamps_to_its_bounds_applies_once_and_reverts(kube, api_client, fresh_namespace):
    apps = client.AppsV1Api(api_client)
    apps.create_namespaced_deployment(fresh_namespace, deployment("web", replicas=2))
    before = apps.read_namespaced_deployment("web", fresh_namespace)
    ctx = context(kube, fresh_namespace, "Deployment", "web")
    plan, result = apply(ctx, "scale", {"delta": 50, "max": 8}, times=3)
    assert plan == {"previous": 2, "replicas": 8} and result["replicas"] == 8
    assert spec_changes(api_client, before) == 1
    revert(ctx, "scale", {"delta": 50, "max": 8}, plan)
    assert apps.read_namespaced_deployment("web", fresh_namespace).spec.replicas == 2


def test_restart_rolls_the_template_once_per_plan(kube, api_client, fresh_namespace):
    apps = client.AppsV1Api(api_client)
    apps.create_namespaced_deployment(fresh_namespace, deployment("web"))
    before = apps.read_namespaced_deployment("web", fresh_namespace)
    plan, _ = apply(context(kube, fresh_namespace, "Deployment", "web"), "restart", {}, times=2)
    template = apps.read_namespaced_deployment("web", fresh_namespace).spec.template
    assert template.metadata.annotations["naksha.io/restartedAt"] == plan["restartedAt"]
    assert spec_changes(api_client, before) == 1


def test_delete_pod_takes_one_pod_and_a_replay_does_not_take_its_replacement(
    kube, api_client, fresh_namespace
):
    apps, core = client.AppsV1Api(api_client), client.CoreV1Api(api_client)
    apps.create_namespaced_deployment(fresh_namespace, deployment("web", replicas=2))

    def pods() -> list[str]:
        return sorted(
            p.metadata.name for p in core.list_namespaced_pod(fresh_namespace, label_selector="app=web").items
        )

    before = eventually(lambda: len(pods()) == 2 and pods())
    ctx = context(kube, fresh_namespace, "Deployment", "web")
    plan, result = apply(ctx, "delete-pod", {})
    assert plan["pod"] in before and result == {"pod": plan["pod"], "deleted": True}
    again = lookup("delete-pod").apply(ctx, lookup("delete-pod").parse_params({}), plan)
    assert again["deleted"] is False
    after = eventually(lambda: len(pods()) == 2 and plan["pod"] not in pods() and pods())
    assert len(set(before) & set(after)) == 1  # exactly one pod was replaced


def test_cordon_edge_marks_the_node_unschedulable_and_reverts(kube, api_client, fresh_namespace):
    custom = client.CustomObjectsApi(api_client)
    edge = yaml.safe_load((ROOT / "crds" / "samples" / "edgenode.yaml").read_text())
    edge["metadata"]["namespace"] = fresh_namespace
    custom.create_namespaced_custom_object(GROUP, VERSION, fresh_namespace, "edgenodes", edge)
    ctx = context(kube, fresh_namespace, "EdgeNode", "store-042")
    plan, result = apply(ctx, "cordon-edge", {}, times=2)
    assert result == {"edge": "store-042", "unschedulable": True}

    def spec() -> dict[str, Any]:
        return dict(
            custom.get_namespaced_custom_object(GROUP, VERSION, fresh_namespace, "edgenodes", "store-042")[
                "spec"
            ]
        )

    assert spec()["unschedulable"] is True
    revert(ctx, "cordon-edge", {}, plan)
    assert spec()["unschedulable"] is False


def test_patch_and_annotate_restore_exactly_what_they_replaced(kube, api_client, fresh_namespace):
    core = client.CoreV1Api(api_client)
    core.create_namespaced_config_map(
        fresh_namespace,
        {"metadata": {"name": "cfg", "annotations": {"team": "web"}}, "data": {"mode": "fast"}},
    )
    ctx = context(kube, fresh_namespace, "ConfigMap", "cfg")
    patch = {"data": {"mode": "safe", "extra": "1"}}
    patch_plan, _ = apply(ctx, "patch", {"patch": patch})
    annotate_plan, _ = apply(ctx, "annotate", {"annotations": {"team": "sre", "why": "incident"}})
    changed = core.read_namespaced_config_map("cfg", fresh_namespace)
    assert changed.data == {"mode": "safe", "extra": "1"}
    assert changed.metadata.annotations == {"team": "sre", "why": "incident"}
    revert(ctx, "annotate", {"annotations": {"team": "sre", "why": "incident"}}, annotate_plan)
    revert(ctx, "patch", {"patch": patch}, patch_plan)
    restored = core.read_namespaced_config_map("cfg", fresh_namespace)
    assert restored.data == {"mode": "fast"}
    assert restored.metadata.annotations == {"team": "web"}


def test_patch_refuses_a_kind_outside_its_allow_list(kube, fresh_namespace):
    with pytest.raises(WpkError, match="acts on Deployment, ConfigMap"):
        apply(context(kube, fresh_namespace, "Secret", "creds"), "patch", {"patch": {"data": {}}})


def test_notify_posts_one_event_per_action_and_calls_the_webhook(kube, api_client, fresh_namespace, receiver):
    ctx = context(kube, fresh_namespace)
    params = {"reason": "ScaledOut", "message": "checkout scaled to 6", "webhook": receiver.url}
    _, first = apply(ctx, "notify", params)
    _, replay = apply(ctx, "notify", {"reason": "ScaledOut", "message": "checkout scaled to 6"})
    events = client.CoreV1Api(api_client).list_namespaced_event(fresh_namespace).items
    notices = [e for e in events if e.reason == "ScaledOut"]
    assert len(notices) == 1 and notices[0].message == "checkout scaled to 6"
    assert notices[0].involved_object.kind == "AgentRun"
    assert replay["event"].endswith("(already posted)")
    assert receiver.posted == [
        {
            "run": "run-1",
            "namespace": fresh_namespace,
            "reason": "ScaledOut",
            "message": "checkout scaled to 6",
        }
    ]
    assert first["event"] == notices[0].metadata.name


def test_http_check_gives_a_verdict_for_healthy_failing_and_unreachable_endpoints(
    kube, fresh_namespace, receiver
):
    ctx = context(kube, fresh_namespace)
    _, healthy = apply(ctx, "http-check", {"url": receiver.url})
    receiver.status = 503
    _, failing = apply(ctx, "http-check", {"url": receiver.url})
    _, unreachable = apply(ctx, "http-check", {"url": "http://127.0.0.1:9/"})
    assert (healthy["ok"], healthy["anomalous"], healthy["status"]) == (True, False, 200)
    assert (failing["ok"], failing["anomalous"], failing["status"]) == (False, True, 503)
    assert (unreachable["ok"], unreachable["anomalous"]) == (False, True)


def test_wait_is_not_done_until_its_planned_deadline(kube, fresh_namespace):
    now = [time.time()]
    ctx = context(kube, fresh_namespace, clock=lambda: now[0])
    package = lookup("wait")
    params = package.parse_params({"duration": "30s"})
    plan = package.plan(ctx, params)
    with pytest.raises(NotYet):
        package.apply(ctx, params, plan)
    now[0] += 31
    assert package.apply(ctx, params, plan) == {"waited": True}


def test_wait_refuses_more_than_an_hour(kube, fresh_namespace):
    package = lookup("wait")
    with pytest.raises(WpkError, match="limited to 3600"):
        package.plan(context(kube, fresh_namespace), package.parse_params({"duration": "2h"}))
