"""``kubectl naksha ...``: the ``naksha`` command as a kubectl plugin.

kubectl runs any ``kubectl-<name>`` executable on the PATH as ``kubectl <name>``; the package
installs ``kubectl-naksha`` (as Argo Rollouts ships ``kubectl-argo-rollouts``). kubectl hands
plugins no flags of its own, so the cluster is the one ``KUBECONFIG`` (or the default
kubeconfig) names, exactly as for ``naksha``. ``kubectl_complete-naksha`` answers kubectl's
completion requests for the plugin.
"""

from __future__ import annotations

import sys

from naksha.cli import _parser, main
from naksha.cli.completion import candidates, tree

# Cobra's ShellCompDirectiveNoFileComp: kubectl offers only the candidates, no file names.
NO_FILE_COMPLETION = 4


def kubectl_main() -> int:
    return main(sys.argv[1:], prog="kubectl naksha")


def kubectl_complete() -> int:
    for candidate in candidates(tree(_parser()), sys.argv[1:]):
        print(candidate)
    print(f":{NO_FILE_COMPLETION}")
    return 0
