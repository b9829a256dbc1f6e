"""EdgeNode: an edge agent registered with the hub, its identity, heartbeats and credentials."""

from __future__ import annotations

from pydantic import Field

from naksha.models.common import Duration, NakshaModel, SecretRef
from naksha.models.status import NakshaStatus


class Identity(NakshaModel):
    node_id: str = Field(min_length=1, max_length=253, description="Subject of the node's JWTs.")
    audience: str = Field(default="naksha-hub", min_length=1)
    credentials_secret_ref: SecretRef | None = Field(
        default=None, description="Where the hub stores the node's issued token."
    )


class Credentials(NakshaModel):
    token_ttl: Duration = Field(default="1h", description="Lifetime of an issued token.")
    rotation_interval: Duration = Field(default="24h", description="Re-issue a token this often.")
    revoked: bool = Field(default=False, description="Refuse every token of this node.")


class EdgeNodeSpec(NakshaModel):
    identity: Identity
    capabilities: list[str] = Field(default_factory=list, max_length=64)
    heartbeat_interval: Duration = "30s"
    offline_after: Duration = Field(default="2m", description="Not Ready when no heartbeat this long.")
    lost_after: Duration = Field(default="1h", description="Lost when no heartbeat this long.")
    approved: bool = Field(
        default=True,
        description="The hub registers this node only when true (`naksha edge approve NAME`).",
    )
    unschedulable: bool = Field(default=False, description="Cordoned: no triggers are sent to it.")
    credentials: Credentials = Field(default_factory=Credentials)


class EdgeNodeStatus(NakshaStatus):
    """An EdgeNode's status, written by two writers through this one model.

    The hub writes the lease (``lease``, ``lastHeartbeatTime``, the node's key and report, the
    ``Ready`` condition) on transitions and at a bounded rate; the operator writes admission,
    approval, ``revoked`` and ``pendingTriggers``. Each writes only the fields it assigns
    (``wire()``), and each writes ``conditions`` only over the object it read (the
    resourceVersion guards the write), so neither drops the other's conditions.
    """

    node_id: str | None = Field(default=None, alias="nodeId")
    lease: str | None = Field(default=None, description="Ready, Unknown or Lost.")
    last_heartbeat_time: str | None = Field(default=None, alias="lastHeartbeatTime")
    registered_time: str | None = Field(default=None, alias="registeredTime")
    agent_version: str | None = Field(default=None, alias="agentVersion")
    capabilities: list[str] = Field(default_factory=list)
    load: dict[str, float] = Field(
        default_factory=dict, description="The load figures of its last heartbeat."
    )
    public_key: str | None = Field(
        default=None, alias="publicKey", description="The node's Ed25519 key, PEM."
    )
    key_thumbprint: str | None = Field(default=None, alias="keyThumbprint")
    pending_key_thumbprint: str | None = Field(
        default=None, alias="pendingKeyThumbprint", description="A key waiting for approval."
    )
    revoked: bool | None = Field(default=None, description="spec.credentials.revoked, as last reconciled.")
    pending_triggers: int | None = Field(
        default=None, alias="pendingTriggers", description="Trigger requests still waiting for this node."
    )
