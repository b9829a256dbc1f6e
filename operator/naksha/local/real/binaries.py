"""Where the real control plane's binaries are, and building them when they are missing.

The versions live in ``scripts/real-control-plane.versions`` (shared with the build script);
the binaries in ``~/.cache/naksha/<name>-<version>/bin`` (``NAKSHA_CACHE`` moves the cache).
``NAKSHA_KUBE_BIN_DIR`` / ``NAKSHA_ETCD_BIN_DIR`` / ``NAKSHA_HELM_BIN_DIR`` point at binaries
built elsewhere instead.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[4]
SCRIPT = ROOT / "scripts" / "real-control-plane.sh"
VERSIONS = ROOT / "scripts" / "real-control-plane.versions"


class BinariesMissing(RuntimeError):
    """The binaries are not built and cannot be built here; the message says why."""


@dataclass(frozen=True)
class Binaries:
    kube_version: str
    etcd_version: str
    helm_version: str
    kube_apiserver: Path
    kube_controller_manager: Path
    kube_scheduler: Path
    etcd: Path
    helm: Path

    @property
    def control_plane(self) -> tuple[Path, ...]:
        return (self.kube_apiserver, self.kube_controller_manager, self.kube_scheduler, self.etcd)

    def missing(self, *, helm: bool = False) -> list[Path]:
        wanted = (*self.control_plane, self.helm) if helm else self.control_plane
        return [path for path in wanted if not os.access(path, os.X_OK)]


def versions() -> dict[str, str]:
    """KEY=VALUE pairs of the versions file (comments and blank lines skipped)."""
    pairs = {}
    for line in VERSIONS.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            pairs[key.strip()] = value.strip()
    return pairs


def cache_dir() -> Path:
    return Path(os.environ.get("NAKSHA_CACHE") or Path.home() / ".cache" / "naksha")


def locate() -> Binaries:
    """The expected paths (which may not exist yet)."""
    pinned = versions()
    kube, etcd, helm = pinned["KUBE_VERSION"], pinned["ETCD_VERSION"], pinned["HELM_VERSION"]
    cache = cache_dir()
    kube_bin = Path(os.environ.get("NAKSHA_KUBE_BIN_DIR") or cache / f"kube-{kube}" / "bin")
    etcd_bin = Path(os.environ.get("NAKSHA_ETCD_BIN_DIR") or cache / f"etcd-{etcd}" / "bin")
    helm_bin = Path(os.environ.get("NAKSHA_HELM_BIN_DIR") or cache / f"helm-{helm}" / "bin")
    return Binaries(
        kube_version=kube,
        etcd_version=etcd,
        helm_version=helm,
        kube_apiserver=kube_bin / "kube-apiserver",
        kube_controller_manager=kube_bin / "kube-controller-manager",
        kube_scheduler=kube_bin / "kube-scheduler",
        etcd=etcd_bin / "etcd",
        helm=helm_bin / "helm",
    )


def ensure(*, build: bool = True, helm: bool = False) -> Binaries:
    """The control plane's binaries (and helm when asked), built first when missing and ``build``
    is true (the build makes them all); BinariesMissing otherwise."""
    binaries = locate()
    if not binaries.missing(helm=helm):
        return binaries
    if not build:
        raise BinariesMissing(
            f"not built: {', '.join(str(p) for p in binaries.missing(helm=helm))}; run `make real-apiserver`"
        )
    result = subprocess.run(["bash", str(SCRIPT), "build"], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        errors = [line for line in result.stderr.splitlines() if "error:" in line]
        raise BinariesMissing(errors[0] if errors else f"the build failed: {result.stderr.strip()[-500:]}")
    binaries = locate()
    if binaries.missing(helm=helm):
        raise BinariesMissing(f"the build left these missing: {binaries.missing(helm=helm)}")
    return binaries
