"""The GitOps manifest edit: put a Rollout's stable pod template back into its manifest file.

Comments in the manifest file are not kept: the file is rewritten from its parsed YAML documents,
in their order and with their keys' order. Fetching, committing and pushing are in
``naksha.controllers.rollout.gitops``.
"""

from __future__ import annotations

from typing import Any

import yaml

from naksha.errors import NakshaError


class GitOpsError(NakshaError):
    """Git could not do it; the message carries git's own words."""


def replace_template(text: str, namespace: str, name: str, template: dict[str, Any]) -> str:
    """The manifest with that Rollout's ``spec.template`` replaced; other documents untouched."""
    try:
        documents = list(yaml.safe_load_all(text))
    except yaml.YAMLError as error:
        raise GitOpsError(f"the manifest is not valid YAML: {error}") from None
    found = False
    for document in documents:
        if not isinstance(document, dict) or document.get("kind") != "Rollout":
            continue
        metadata = document.get("metadata") or {}
        if metadata.get("name") != name or metadata.get("namespace", namespace) != namespace:
            continue
        if document.get("spec", {}).get("template") == template:
            return text
        document.setdefault("spec", {})["template"] = template
        found = True
    if not found:
        raise GitOpsError(f"no Rollout {namespace}/{name} in the manifest")
    return yaml.safe_dump_all(documents, sort_keys=False, default_flow_style=False)
