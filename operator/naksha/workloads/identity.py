"""Who each Naksha process is on the API, and exactly what it may do there: the one source of RBAC.

Three identities, each with the rules its code needs and nothing else:

- the operator: ``OPERATOR_RULES``, shipped as the ClusterRole of ``manifests/rbac.yaml`` and of
  the chart (both generated from here by ``naksha rbac``; a test fails when they drift);
- an InsightStream's workers: a ServiceAccount, Role and RoleBinding per stream, in the stream's
  namespace, applied and owned by the operator (``worker_rules``);
- an AgentRun's executor Job: the same per run (``job_rules``), unless the operator is told to
  use an account of the user's (``NAKSHA_AGENT_JOB_SERVICE_ACCOUNT``);
- a ModelVersion's training Job: the same per version (``trainer_rules``).

The workers of an HTTP push stream with ``auth: kubernetes`` also review their callers' tokens
(TokenReview, SubjectAccessReview), which are cluster-scoped: a namespaced Role cannot grant them.
The shipped ClusterRole ``naksha-access-reviewer`` (``REVIEWER_RULES``) holds just those two, and
the operator binds it to such a stream's account with one ClusterRoleBinding per stream
(``build_review_binding``), removed when the stream stops needing it or is deleted. A
cluster-scoped binding cannot be owned by a namespaced stream, so the operator deletes it itself.

Per-object accounts rather than chart-level ones: their rules name the one stream or run (and
target) they serve, in the one namespace it lives in, which a chart installed before the streams
exist cannot know; and deleting the stream or run deletes its account with it. The operator may
create these Roles without the ``escalate`` or ``bind`` verbs because it holds every rule it grants
(the API server's escalation check; a unit test keeps ``OPERATOR_RULES`` covering them).

Each rule says why it exists; the AgentRun work packages declare their own needs next to their
code (``WorkPackage.rbac``), and ``job_rules`` turns those declarations into rules.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from naksha.models.common import ObjectTarget
from naksha.models.group import GROUP
from naksha.models.kinds import KINDS
from naksha.models.resources import resource_for
from naksha.workloads.naming import insight_state_names
from naksha.workloads.trainer import training_job_name

RBAC_API = "rbac.authorization.k8s.io"


@dataclass(frozen=True)
class Rule:
    groups: tuple[str, ...]
    resources: tuple[str, ...]
    verbs: tuple[str, ...]
    why: str = ""
    names: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        rule: dict[str, Any] = {
            "apiGroups": list(self.groups),
            "resources": list(self.resources),
            "verbs": list(self.verbs),
        }
        if self.names:
            rule["resourceNames"] = list(self.names)
        return rule

    def allows(self, group: str, resource: str, verb: str, name: str | None = None) -> bool:
        return (
            group in self.groups
            and resource in self.resources
            and verb in self.verbs
            and (not self.names or name in self.names)
        )


_PLURALS = tuple(kind.plural for kind in KINDS)

OPERATOR_RULES: tuple[Rule, ...] = (
    Rule(
        (GROUP,),
        _PLURALS,
        ("get", "list", "watch", "patch"),
        "The six kinds: kopf lists, watches and patches them (finalizers, its bookkeeping annotations);"
        " the engine, analysis and work packages read and patch them.",
    ),
    Rule((GROUP,), ("agentruns",), ("create",), "The AgentRun HTTP API (POST /agent/run) creates runs."),
    Rule(
        (GROUP,),
        ("modelversions",),
        ("create", "delete"),
        "Retraining creates a model's next version and deletes versions beyond its history limit.",
    ),
    Rule(
        (GROUP,),
        tuple(f"{plural}/status" for plural in _PLURALS),
        ("patch",),
        "Every kind reports through its status subresource.",
    ),
    Rule((GROUP,), ("insightstreams/history",), ("get",), "Granted to trainers: HTTP push workers' rings."),
    Rule(("",), ("serviceaccounts/token",), ("create",), "Granted to a trainer for its own history tokens."),
    Rule(
        ("apiextensions.k8s.io",),
        ("customresourcedefinitions",),
        ("list", "watch"),
        "kopf follows the CRDs to learn which resources are served.",
    ),
    Rule(
        ("",),
        ("namespaces",),
        ("list", "watch"),
        "kopf follows namespaces when it watches a list of them (watchNamespaces).",
    ),
    Rule(
        ("",),
        ("events",),
        ("create", "patch"),
        "Events about the objects it handles; a repeated Event is counted by patching it.",
    ),
    Rule(
        ("",),
        ("pods",),
        ("get", "list", "delete"),
        "restart and delete-pod work packages; an InsightStream lists its worker pods to drop"
        " reports of pods that are gone.",
    ),
    Rule(
        ("",),
        ("configmaps",),
        ("get", "list", "patch", "create", "delete"),
        "Playbooks are ConfigMaps (read by name); a ConfigMap may be an AgentRun's target"
        " (its lock annotation, the patch and annotate work packages); create: held so that it may"
        " grant it to workers, whose first checkpoint creates their state ConfigMap, and edge-exec"
        " creates trigger requests; ModelVersions: the outcome archive and alias maps (patched with"
        " a test, so moves are atomic), artifacts (list, delete: retrained versions beyond the"
        " history limit); list: an EdgeNode counts the trigger requests waiting for it.",
    ),
    Rule(
        ("",),
        ("secrets",),
        ("get",),
        "GitOps credentials named in a Rollout's spec, read by name, never listed.",
    ),
    Rule(
        ("",),
        ("services", "serviceaccounts"),
        ("create", "patch"),
        "Applied (server-side apply: patch, and create when missing): each InsightStream's worker"
        " Service, and the ServiceAccounts of its workers and of executor Jobs.",
    ),
    Rule(
        ("apps",),
        ("deployments",),
        ("get", "create", "patch"),
        "Insight workers and Rollout stable/canary Deployments (applied), scale and restart work"
        " packages (patched), readiness (read).",
    ),
    Rule(
        ("batch",),
        ("jobs",),
        ("get", "create"),
        "AgentRuns with executor job, Rollout analysis Jobs and ModelVersion training Jobs: created,"
        " then watched by polling.",
    ),
    Rule(
        (RBAC_API,),
        ("roles", "rolebindings"),
        ("create", "patch"),
        "The Roles and RoleBindings of workers and executor Jobs (applied); the operator holds every"
        " rule it grants, so it needs neither escalate nor bind.",
    ),
    Rule(
        (RBAC_API,),
        ("clusterrolebindings",),
        ("create", "patch", "delete"),
        "Binds naksha-access-reviewer to the workers of each HTTP stream that authenticates its"
        " pushes (applied; deleted with the stream, which cannot own a cluster-scoped object).",
    ),
    Rule(
        ("authentication.k8s.io",),
        ("tokenreviews",),
        ("create",),
        "The AgentRun HTTP API authenticates bearer tokens with TokenReview.",
    ),
    Rule(
        ("authorization.k8s.io",),
        ("subjectaccessreviews",),
        ("create",),
        "The AgentRun HTTP API authorises each caller with SubjectAccessReview.",
    ),
)

# The federation hub (``naksha hub``): a Role in the namespace of the EdgeNodes it serves.
HUB_NAME = "naksha-hub"
HUB_RULES: tuple[Rule, ...] = (
    Rule(
        (GROUP,),
        ("edgenodes",),
        ("get", "list", "watch", "create"),
        "The registry: watched; a registration creates its node.",
    ),
    Rule((GROUP,), ("edgenodes/status",), ("patch",), "Leases, keys and reports are written to the status."),
    Rule(
        ("",),
        ("configmaps",),
        ("get", "list", "watch", "patch"),
        "Trigger requests: signed, then given their result.",
    ),
    Rule(
        ("",), ("secrets",), ("create",), "The signing key and the replay ledger, created on the first start."
    ),
    Rule(
        ("",),
        ("secrets",),
        ("get", "patch"),
        "Only its own two Secrets, by name.",
        names=("naksha-hub-signing-key", "naksha-hub-ledger"),
    ),
    Rule(("",), ("events",), ("create", "patch"), "Events on registration and lease transitions."),
)

# ChaosExperiment: besides the rules above (pods delete, deployments patch, configmaps get).
OPERATOR_RULES += (
    Rule(
        ("",),
        ("namespaces", "services"),
        ("get",),
        "ChaosExperiments: a namespace's naksha.io/chaos opt-in label; the ingest Service of the"
        " InsightStream an anomaly-injection pushes to.",
    ),
    Rule(
        ("apps",), ("deployments",), ("list",), "ChaosExperiments select their target Deployments by label."
    ),
    # pod-failure, container-kill, cpu-stress
    Rule(
        ("",),
        ("pods",),
        ("create", "patch"),
        "ChaosExperiments: pod-failure patches a target pod's container images (and back);"
        " container-kill and cpu-stress create their helper pod on the target's node (deleted on"
        " restore). container-kill's helper is privileged with hostPID: the target namespace's"
        " Pod Security level must admit it (privileged).",
    ),
    # anomaly-injection into streams with auth: kubernetes
    Rule(
        ("",),
        ("serviceaccounts", "serviceaccounts/token"),
        ("get", "create"),
        "ChaosExperiments: anomaly-injection pushes into an auth: kubernetes stream as the"
        " ServiceAccount naksha-chaos-injector of the stream's namespace, with a short-lived token"
        " from the TokenRequest API (create on serviceaccounts/token), after checking the account"
        " exists (get); only that account name. Which streams it may push into is the namespace's"
        " RoleBinding of that account to create on insightstreams/ingest.",
        names=("naksha-chaos-injector",),
    ),
)

REVIEWER_ROLE = "naksha-access-reviewer"
REVIEWER_RULES: tuple[Rule, ...] = (
    Rule(
        ("authentication.k8s.io",),
        ("tokenreviews",),
        ("create",),
        "An HTTP push stream's workers authenticate POST /ingest bearer tokens with TokenReview.",
    ),
    Rule(
        ("authorization.k8s.io",),
        ("subjectaccessreviews",),
        ("create",),
        "An HTTP push stream's workers authorise POST /ingest callers (create insightstreams/ingest)"
        " with SubjectAccessReview.",
    ),
)


def worker_rules(stream: str, *, follows_models: bool = False) -> list[Rule]:
    """What an InsightStream's workers call: report into its status, create and find AgentRuns."""
    models = [
        Rule(
            ("",),
            ("configmaps",),
            ("get",),
            "Detectors with a model read its alias map and the holder's artifact (names not known in"
            " advance).",
        )
    ]
    return [
        *(models if follows_models else []),
        Rule((GROUP,), ("insightstreams/status",), ("patch",), "Each worker reports its own.", (stream,)),
        Rule(
            (GROUP,),
            ("insightstreams",),
            ("get",),
            "The stream itself: the owner of its checkpoint ConfigMap.",
            (stream,),
        ),
        Rule(
            ("",),
            ("configmaps",),
            ("get", "patch"),
            "Kafka workers checkpoint detector state with their offsets in this ConfigMap, and spill"
            " checkpoints larger than it holds into these few.",
            insight_state_names(stream),
        ),
        Rule(
            ("",),
            ("configmaps",),
            ("create",),
            "The first checkpoint creates that ConfigMap (a create cannot be limited by name).",
        ),
        Rule(
            (GROUP,),
            ("agentruns",),
            ("create", "list"),
            "Triggers create AgentRuns, deduplicated by listing the open ones by label.",
        ),
    ]


def job_rules(run: str, target: ObjectTarget | None, package_needs: Iterable[str]) -> list[Rule]:
    """What an executor Job's engine calls for ``run``: its own run, Events, playbooks, the packages.

    ``package_needs`` are the work packages' declarations (``"apps/deployments: get, patch"``,
    ``"the target's kind: get, patch"``). Needs on the target's kind become one rule naming the
    target alone (packages that act, act on the run's target); other needs hold namespace-wide.
    """
    rules = [
        Rule((GROUP,), ("agentruns",), ("get",), "The run itself; the run holding a target's lock."),
        Rule((GROUP,), ("agentruns/status",), ("patch",), "Checkpoints of the run.", (run,)),
        Rule(("",), ("events",), ("create", "patch"), "Events about the run."),
        Rule(("",), ("configmaps",), ("get",), "Playbooks, read by name."),
    ]
    target_ref = None
    if target is not None:
        try:
            target_ref = resource_for(target.api_version, target.kind)
        except KeyError:
            target_ref = None  # an unknown kind is refused by the engine before any call
    target_verbs = {"get", "patch"}  # the lock annotation, read and written
    for need in sorted(set(package_needs)):
        what, _, listed = need.partition(":")
        verbs = tuple(v.strip() for v in listed.split(",") if v.strip())
        if what.strip() == "the target's kind" or "/" not in what:
            target_verbs.update(verbs)
            continue
        group, _, resource = what.strip().partition("/")
        group = "" if group == "core" else group
        if target_ref is not None and (group, resource) == (target_ref.group, target_ref.plural):
            target_verbs.update(verbs)  # a package acting on the target's kind acts on the target
            continue
        rules.append(Rule((group,), (resource,), verbs, "A work package's declared need."))
    if target is not None and target_ref is not None:
        verbs = tuple(v for v in ("get", "list", "patch", "delete") if v in target_verbs)
        rules.append(Rule((target_ref.group,), (target_ref.plural,), verbs, "The target.", (target.name,)))
    return rules


def trainer_rules(version: str) -> list[Rule]:
    """What a ModelVersion's training pod calls: its version, the runs and archive, its artifact.

    Its account is named like its Job (``workloads.trainer.training_job_name``)."""
    return [
        Rule((GROUP,), ("modelversions",), ("get",), "The version to train.", (version,)),
        Rule((GROUP,), ("agentruns", "insightstreams"), ("get", "list"), "Outcomes; the streams' detectors."),
        Rule(
            ("",),
            ("configmaps",),
            ("get",),
            "The outcome archive, the model's alias map and the alias holder's artifact (to compare).",
        ),
        Rule(("",), ("configmaps",), ("create",), "Its artifact (a create cannot be limited by name)."),
        Rule(("",), ("secrets",), ("get",), "A Redis stream's URL Secret, read by name, to replay history."),
        Rule(
            ("",),
            ("serviceaccounts/token",),
            ("create",),
            "Its history tokens.",
            (training_job_name(version),),
        ),
        Rule((GROUP,), ("insightstreams/history",), ("get",), "HTTP push workers' rings (GET /history)."),
    ]


def build_identity(
    *, name: str, namespace: str, rules: Iterable[Rule], labels: dict[str, str]
) -> list[dict[str, Any]]:
    """A ServiceAccount, a Role with ``rules`` and the RoleBinding between them, all named ``name``."""
    metadata = {"name": name, "namespace": namespace, "labels": dict(labels)}
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": dict(metadata)},
        {
            "apiVersion": f"{RBAC_API}/v1",
            "kind": "Role",
            "metadata": dict(metadata),
            "rules": [rule.as_dict() for rule in rules],
        },
        {
            "apiVersion": f"{RBAC_API}/v1",
            "kind": "RoleBinding",
            "metadata": dict(metadata),
            "roleRef": {"apiGroup": RBAC_API, "kind": "Role", "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}],
        },
    ]


def review_binding_name(namespace: str, stream: str) -> str:
    """The ClusterRoleBinding of one stream's workers to ``REVIEWER_ROLE`` (unique per namespace)."""
    return f"{REVIEWER_ROLE}:{namespace}:{stream}"


def build_review_binding(
    *, namespace: str, stream: str, account: str, labels: dict[str, str]
) -> dict[str, Any]:
    """Lets ``account`` (a stream's workers) create TokenReviews and SubjectAccessReviews."""
    return {
        "apiVersion": f"{RBAC_API}/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": review_binding_name(namespace, stream), "labels": dict(labels)},
        "roleRef": {"apiGroup": RBAC_API, "kind": "ClusterRole", "name": REVIEWER_ROLE},
        "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": namespace}],
    }
