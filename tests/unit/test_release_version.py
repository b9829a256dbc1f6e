"""One version wherever a user reads it: the package, ``naksha --version``, the chart, the image tags."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib

import yaml
from tests.support import ROOT

from naksha import __version__

IMAGE = re.compile(r"ghcr\.io/naksha-io/naksha:([\w.-]+)")
# Where the project names its own released image (the chart takes its tag from appVersion).
IMAGE_FILES = (
    "manifests/deployment.yaml",
    "manifests/hub.yaml",
    "crds/samples/rollout.yaml",
    "examples/gitops/apps/storefront/rollout.yaml",
    "README.md",
)


def test_the_package_and_the_command_carry_the_release_version():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["version"] == __version__ == "4.0.0"
    answer = subprocess.run(
        [sys.executable, "-m", "naksha", "--version"], capture_output=True, text=True, timeout=60, check=True
    )
    assert answer.stdout.strip() == f"naksha {__version__}"


def test_the_chart_version_and_app_version_are_the_release():
    chart = yaml.safe_load((ROOT / "charts" / "naksha" / "Chart.yaml").read_text())
    assert chart["version"] == chart["appVersion"] == __version__
    values = yaml.safe_load((ROOT / "charts" / "naksha" / "values.yaml").read_text())
    assert values["image"]["tag"] in ("", __version__)  # empty: the chart's appVersion


def test_every_reference_to_the_released_image_has_the_release_tag():
    for path in IMAGE_FILES:
        tags = IMAGE.findall((ROOT / path).read_text())
        assert tags, f"{path} no longer names the image: update IMAGE_FILES"
        assert set(tags) == {__version__}, (path, tags)
    from naksha.settings import DEFAULT_IMAGE

    assert DEFAULT_IMAGE.rsplit(":", 1) == ["ghcr.io/naksha-io/naksha", __version__]
