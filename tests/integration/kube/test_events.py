"""Naksha's Events carry their timestamps and count, and repeats are counted on one Event."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from kubernetes import client

from naksha.kube import Kube
from naksha.kube.events import WINDOW_SECONDS, EventAggregator, event_about


class Clock:
    def __init__(self) -> None:
        self.now = datetime.datetime(2026, 11, 28, 12, 0, tzinfo=datetime.UTC).timestamp()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def kube(api_client: client.ApiClient) -> Kube:
    return Kube(api_client)


def about(namespace: str, message: str = "scaled web from 2 to 4") -> dict[str, Any]:
    involved = {"apiVersion": "naksha.io/v1alpha1", "kind": "AgentRun", "name": "r", "namespace": namespace}
    return event_about(involved, reason="Scaled", message=message, component="naksha-agent")


def events(api_client: client.ApiClient, namespace: str) -> list[Any]:
    found = client.CoreV1Api(api_client).list_namespaced_event(namespace).items
    return sorted(found, key=lambda e: int(e.metadata.resource_version))


def test_an_event_has_the_timestamps_count_and_reporter_kubectl_shows(kube, api_client, fresh_namespace):
    EventAggregator(Clock()).post(kube, about(fresh_namespace))
    (event,) = events(api_client, fresh_namespace)
    stamp = datetime.datetime(2026, 11, 28, 12, 0, tzinfo=datetime.UTC)
    assert (event.first_timestamp, event.last_timestamp, event.event_time) == (stamp, stamp, stamp)
    assert event.count == 1 and event.reporting_component == "naksha-agent" and event.reporting_instance
    assert (event.source.component, event.action) == ("naksha-agent", "Scaled")


def test_a_repeat_within_the_window_counts_on_the_same_event(kube, api_client, fresh_namespace):
    clock = Clock()
    aggregator = EventAggregator(clock)
    aggregator.post(kube, about(fresh_namespace))
    clock.now += 30
    aggregator.post(kube, about(fresh_namespace))
    clock.now += 30
    aggregator.post(kube, about(fresh_namespace))
    (event,) = events(api_client, fresh_namespace)
    assert event.count == 3
    assert (event.last_timestamp - event.first_timestamp).total_seconds() == 60


def test_another_message_or_a_repeat_after_the_window_is_a_new_event(kube, api_client, fresh_namespace):
    clock = Clock()
    aggregator = EventAggregator(clock)
    aggregator.post(kube, about(fresh_namespace))
    aggregator.post(kube, about(fresh_namespace, message="scaled web from 4 to 6"))
    clock.now += WINDOW_SECONDS + 1
    aggregator.post(kube, about(fresh_namespace))
    assert [(e.message, e.count) for e in events(api_client, fresh_namespace)] == [
        ("scaled web from 2 to 4", 1),
        ("scaled web from 4 to 6", 1),
        ("scaled web from 2 to 4", 1),
    ]


def test_a_repeat_of_an_event_deleted_meanwhile_creates_it_again(kube, api_client, fresh_namespace):
    clock = Clock()
    aggregator = EventAggregator(clock)
    first = aggregator.post(kube, about(fresh_namespace))
    client.CoreV1Api(api_client).delete_namespaced_event(first["metadata"]["name"], fresh_namespace)
    clock.now += 5
    aggregator.post(kube, about(fresh_namespace))
    (event,) = events(api_client, fresh_namespace)
    assert event.count == 1 and event.metadata.name != first["metadata"]["name"]
