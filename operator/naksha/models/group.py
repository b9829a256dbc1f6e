"""The API group, version and category every Naksha kind is served under."""

GROUP = "naksha.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
CATEGORY = "naksha"
