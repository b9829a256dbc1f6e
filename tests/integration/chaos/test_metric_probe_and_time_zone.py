"""A metric probe asks the real Prometheus the tests start, and a cron schedule fires in its time zone.

Prometheus scrapes the operator's own ``/metrics``; the probes query it as a user would
(``up`` of that target, a scalar, and a query Prometheus refuses). The schedule names one minute
of one hour in Asia/Kolkata (UTC+05:30): it fires within the test only if the minutes are counted
there, and the same schedule without a time zone (UTC) does not fire.
"""

from __future__ import annotations

import datetime
import time
import zoneinfo
from typing import Any

from tests.support import eventually
from tests.support.chaos import Chaos, available_probe, experiment

SIMULATED = {"name": "c", "image": "app:1"}


def simulated_deployment(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [SIMULATED]}},
        },
    }


def scale_to_zero(name: str, target: str, **spec: Any) -> dict[str, Any]:
    return experiment(
        name,
        target={"kind": "Deployment", "selector": {"matchLabels": {"app": target}}, "mode": "all"},
        fault={"type": "scale-to-zero"},
        duration="2s",
        expectedRemediation={"mttrBudget": "60s"},
        **spec,
    )


def metric_probe(url: str, query: str, condition: str) -> dict[str, Any]:
    return {
        "name": "prometheus",
        "type": "metric",
        "mode": "before",
        "url": url,
        "query": query,
        "condition": condition,
    }


def test_metric_probes_read_the_real_prometheus_and_gate_the_fault(
    naksha_operator, prometheus_server, api_client, chaos_namespace
):
    chaos = Chaos(api_client, chaos_namespace)
    chaos.deploy(simulated_deployment("web"))
    chaos.ready_pods("web", 1)
    target = f"127.0.0.1:{naksha_operator}"
    prometheus_server.set_targets(f"chaos-{chaos_namespace}", [target], {"namespace": chaos_namespace})
    up = f'up{{instance="{target}", namespace="{chaos_namespace}"}}'
    eventually(lambda: prometheus_server.api("query", query=up)["data"]["result"], timeout=60)
    url = prometheus_server.url

    chaos.create(
        scale_to_zero(
            "steady",
            "web",
            steadyState={"probes": [metric_probe(url, up, "== 1"), available_probe("web", mode="after")]},
        )
    )
    assert chaos.verdict("steady", timeout=90)["verdict"] == "Passed"

    chaos.create(
        scale_to_zero(
            "unsteady", "web", steadyState={"probes": [metric_probe(url, f"scalar({up}) * 0", "> 0.5")]}
        )
    )
    unsteady = chaos.verdict("unsteady", timeout=90)
    assert unsteady["verdict"] == "Skipped"
    assert "probe prometheus failed before the fault: value 0 fails > 0.5" in unsteady["reason"]

    chaos.create(scale_to_zero("refused", "web", steadyState={"probes": [metric_probe(url, "up{", "== 1")]}))
    refused = chaos.verdict("refused", timeout=90)
    assert refused["verdict"] == "Skipped"
    assert "prometheus refused the query (bad_data" in refused["reason"], refused["reason"]
    assert chaos.apps.read_namespaced_deployment("web", chaos_namespace).spec.replicas == 1  # untouched


def test_a_cron_schedule_fires_at_its_minute_in_its_time_zone_not_in_utc(
    naksha_operator, api_client, chaos_namespace
):
    chaos = Chaos(api_client, chaos_namespace)
    for name in ("zoned", "utc"):
        chaos.deploy(simulated_deployment(name))
        chaos.ready_pods(name, 1)
    zone = zoneinfo.ZoneInfo("Asia/Kolkata")
    # The next whole minute at least 20 s away, as a Kolkata wall clock reads it.
    fire = (datetime.datetime.now(tz=zone) + datetime.timedelta(seconds=80)).replace(second=0, microsecond=0)
    schedule = f"{fire.minute} {fire.hour} * * *"
    chaos.create(scale_to_zero("zoned", "zoned", schedule=schedule, timeZone="Asia/Kolkata"))
    chaos.create(scale_to_zero("utc", "utc", schedule=schedule))  # 05:30 away from the zoned one

    run = chaos.verdict("zoned", timeout=150)
    assert (run["startedBy"], run["verdict"]) == ("schedule", "Passed"), run
    status = chaos.status("zoned")
    fired = datetime.datetime.fromisoformat(status["lastScheduleTime"].replace("Z", "+00:00"))
    assert fired == fire.astimezone(datetime.UTC)  # that minute in Kolkata, written in UTC
    started = datetime.datetime.fromisoformat(run["startedAt"].replace("Z", "+00:00"))
    assert 0 <= (started - fired).total_seconds() < 30
    time.sleep(2)
    assert not chaos.status("utc").get("history")  # counted in UTC, the same fields are hours away
    assert not chaos.status("utc").get("currentRun")
