"""Everything the hub keeps on the Kubernetes API, through ``naksha.kube`` (blocking: call from a thread).

- the hub's Ed25519 signing key, in the Secret ``naksha-hub-signing-key`` (created on first start;
  ``naksha edge bootstrap-token`` signs with the same key);
- the replay ledger of used bootstrap ids, in the Secret ``naksha-hub-ledger``;
- the EdgeNode objects (the registry) and their status; Events about them;
- trigger requests: ConfigMaps labelled ``naksha.io/edge-trigger``, one per trigger, holding the
  request, the signed trigger once minted and the result once reported.
"""

from __future__ import annotations

import base64
import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

import orjson

from naksha.domain.federation import tokens
from naksha.kube import KubeApi
from naksha.kube.client import Conflict, NotFound
from naksha.kube.events import event_about, post_event
from naksha.models.conditions import Reason
from naksha.models.group import API_VERSION
from naksha.models.resources import CONFIG_MAPS, EDGE_NODES, SECRETS
from naksha.services.hub.settings import KEY_SECRET, LEDGER_SECRET, TRIGGER_LABEL

CONFIGMAPS = CONFIG_MAPS
EDGENODES = EDGE_NODES
KEY_FIELD = "ed25519.pem"
LEDGER_FIELD = "bootstrap-jtis.json"
COMPONENT = "naksha-hub"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


class HubStore:
    def __init__(self, kube: KubeApi, namespace: str) -> None:
        self.kube = kube
        self.namespace = namespace

    # --- the signing key ------------------------------------------------------------------------

    def signing_key(self, *, create: bool = True) -> tokens.PrivateKey:
        """The hub's key; the first hub to start creates it (a racing second one reads the winner's)."""
        try:
            secret = self.kube.get(SECRETS, self.namespace, KEY_SECRET)
        except NotFound:
            if not create:
                raise
            key = tokens.generate_key()
            body = {
                "apiVersion": "v1",
                "kind": "Secret",
                "type": "Opaque",
                "metadata": {
                    "name": KEY_SECRET,
                    "namespace": self.namespace,
                    "labels": {"app.kubernetes.io/part-of": "naksha"},
                },
                "data": {KEY_FIELD: _b64(tokens.private_pem(key))},
            }
            try:
                self.kube.create(body)
                return key
            except Conflict:
                secret = self.kube.get(SECRETS, self.namespace, KEY_SECRET)
        return tokens.load_private_pem(base64.b64decode((secret.get("data") or {})[KEY_FIELD]))

    # --- the replay ledger ----------------------------------------------------------------------

    def load_ledger(self) -> Mapping[str, Any]:
        try:
            secret = self.kube.get(SECRETS, self.namespace, LEDGER_SECRET)
        except NotFound:
            return {}
        raw = (secret.get("data") or {}).get(LEDGER_FIELD)
        return dict(orjson.loads(base64.b64decode(raw))) if raw else {}

    def save_ledger(self, entries: Mapping[str, float]) -> None:
        data = {LEDGER_FIELD: _b64(orjson.dumps(dict(entries)))}
        try:
            self.kube.merge_patch(SECRETS, self.namespace, LEDGER_SECRET, {"data": data})
        except NotFound:
            body = {
                "apiVersion": "v1",
                "kind": "Secret",
                "type": "Opaque",
                "metadata": {
                    "name": LEDGER_SECRET,
                    "namespace": self.namespace,
                    "labels": {"app.kubernetes.io/part-of": "naksha"},
                },
                "data": data,
            }
            try:
                self.kube.create(body)
            except Conflict:
                self.kube.merge_patch(SECRETS, self.namespace, LEDGER_SECRET, {"data": data})

    # --- EdgeNodes ------------------------------------------------------------------------------

    def get_node(self, name: str) -> dict[str, Any] | None:
        try:
            return self.kube.get(EDGENODES, self.namespace, name)
        except NotFound:
            return None

    def create_node(self, name: str, *, approved: bool) -> dict[str, Any]:
        body = {
            "apiVersion": API_VERSION,
            "kind": "EdgeNode",
            "metadata": {"name": name, "namespace": self.namespace},
            "spec": {"identity": {"nodeId": name}, "approved": approved},
        }
        try:
            return self.kube.create(body)
        except Conflict:
            return self.kube.get(EDGENODES, self.namespace, name)

    def write_status(
        self, name: str, status: Mapping[str, Any], resource_version: str | None = None
    ) -> dict[str, Any] | None:
        """Merge-patch the node's status (with ``resource_version``: only if nobody wrote it since,
        else ``Conflict``); None when the node is gone."""
        patch: dict[str, Any] = {"status": dict(status)}
        if resource_version:
            patch["metadata"] = {"resourceVersion": resource_version}
        try:
            return self.kube.merge_patch(EDGENODES, self.namespace, name, patch, status=True)
        except NotFound:
            return None

    def node_event(self, node: Mapping[str, Any], type_: str, reason: Reason, message: str) -> None:
        metadata = node.get("metadata") or {}
        involved = {
            "apiVersion": API_VERSION,
            "kind": "EdgeNode",
            "name": metadata.get("name"),
            "namespace": self.namespace,
            "uid": metadata.get("uid"),
        }
        post_event(
            self.kube, event_about(involved, reason=reason, message=message, kind=type_, component=COMPONENT)
        )

    def list_nodes(self) -> tuple[list[dict[str, Any]], str]:
        return self.kube.list_with_version(EDGENODES, self.namespace)

    def watch_nodes(self, version: str) -> Iterator[dict[str, Any]]:
        return self.kube.watch(EDGENODES, self.namespace, version)

    # --- trigger requests -----------------------------------------------------------------------

    def list_triggers(self) -> tuple[list[dict[str, Any]], str]:
        return self.kube.list_with_version(CONFIGMAPS, self.namespace, label_selector=TRIGGER_LABEL)

    def watch_triggers(self, version: str) -> Iterator[dict[str, Any]]:
        return self.kube.watch(CONFIGMAPS, self.namespace, version, label_selector=TRIGGER_LABEL)

    def patch_trigger(
        self,
        name: str,
        data: Mapping[str, str],
        labels: Mapping[str, str],
        resource_version: str | None = None,
    ) -> dict[str, Any] | None:
        """Set data fields (and labels); with ``resource_version`` only if nobody wrote it since."""
        patch: dict[str, Any] = {"data": dict(data), "metadata": {"labels": dict(labels)}}
        if resource_version:
            patch["metadata"]["resourceVersion"] = resource_version
        with contextlib.suppress(NotFound):
            return self.kube.merge_patch(CONFIGMAPS, self.namespace, name, patch)
        return None
