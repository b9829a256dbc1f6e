"""``naksha local up`` and ``naksha demo``: the local control plane, and the whole product on it."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from naksha.local import LocalControlPlane
    from naksha.local.real import RealControlPlane


def register(commands: Any) -> None:
    local = commands.add_parser("local", help="the local control plane")
    local_commands = local.add_subparsers(dest="local_command", metavar="COMMAND", required=True)
    up = local_commands.add_parser("up", help="run the local control plane until Ctrl-C")
    up.add_argument("--kubeconfig", type=Path, required=True, help="where to write its kubeconfig")
    up.add_argument("--port", type=int, default=0, help="API port on 127.0.0.1 (default: any free port)")
    up.add_argument("--state-dir", type=Path, default=None, help="pod logs and kubelet state")
    up.add_argument("--no-kubelet", action="store_true", help="serve the API only; run no pods")
    up.add_argument("--access-log", action="store_true", help="log every request (slows the API)")
    up.add_argument(
        "--authorization-mode",
        choices=("rbac", "always-allow"),
        default="rbac",
        help="rbac (default): Roles and bindings decide, as on a cluster; always-allow: anyone logged in",
    )
    up.add_argument(
        "--host-network",
        action="store_true",
        help="run pods on the host's loopback, without network namespaces (pods' ports may collide)",
    )
    up.add_argument(
        "--backend",
        choices=("emulator", "real"),
        default="emulator",
        help="emulator (default) or real: etcd, kube-apiserver, controllers (built by make real-apiserver)",
    )
    up.add_argument("--build", action="store_true", help="with --backend real: build the binaries if missing")
    up.set_defaults(run=_run_local_up)

    demo = commands.add_parser("demo", help="run the demo on the local control plane")
    demo.add_argument("--state-dir", type=Path, default=Path(".state/demo"))
    demo.add_argument("--crds", type=Path, default=Path("crds"), help="directory of CRD files")
    demo.add_argument("--samples", type=Path, default=Path("crds/samples"), help="samples to apply")
    demo.add_argument("--keep", action="store_true", help="keep running until Ctrl-C")
    demo.set_defaults(run=_run_demo)


def _run_local_up(args: argparse.Namespace) -> int:
    from naksha.local import LocalControlPlane

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not args.access_log:
        logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    plane: LocalControlPlane | RealControlPlane
    if args.backend == "real":
        from naksha.local.real import BinariesMissing, RealControlPlane, ensure

        if args.port:
            print(
                "naksha local up: --port applies to the emulator; the real backend picks free ports",
                file=sys.stderr,
            )
            return 2
        try:
            binaries = ensure(build=args.build)
        except BinariesMissing as error:
            print(f"naksha local up: {error}", file=sys.stderr)
            return 1
        plane = RealControlPlane(
            state_dir=args.state_dir,
            kubeconfig=args.kubeconfig,
            kubelet=not args.no_kubelet,
            binaries=binaries,
        )
    else:
        plane = LocalControlPlane(
            port=args.port,
            state_dir=args.state_dir,
            kubeconfig=args.kubeconfig,
            kubelet=not args.no_kubelet,
            authorization_mode=args.authorization_mode,
            isolate_pods=not args.host_network,
        )
    plane.start()
    print(f"local control plane at {plane.url}; kubeconfig {plane.kubeconfig_path}", flush=True)
    print(f"try: kubectl --kubeconfig {plane.kubeconfig_path} get namespaces   (Ctrl-C stops)", flush=True)
    plane.run_forever()
    return 0


def _run_demo(args: argparse.Namespace) -> int:
    from naksha.cli.demo import run_demo

    return run_demo(state_dir=args.state_dir, crds=args.crds, samples=args.samples, keep=bool(args.keep))
