"""``kubectl naksha`` through the real kubectl, and shell completion for naksha and the plugin."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from naksha.cli import _parser
from naksha.cli.completion import candidates, script, tree

BIN = Path(sys.executable).parent
needs_entry_points = pytest.mark.skipif(
    not (BIN / "kubectl-naksha").exists(), reason=f"kubectl-naksha is not installed in {BIN} (make setup)"
)
needs_kubectl = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not on PATH")


def kubectl(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run(["kubectl", *args], capture_output=True, text=True, env=env, timeout=60)


def complete_in_bash(shell_script: str, line: str) -> list[str]:
    """What the completion function offers for ``line`` (the cursor at its end), as bash runs it."""
    words = line.split(" ")
    program = f"""{shell_script}
COMP_WORDS=({" ".join(repr(w) if w else '""' for w in words)})
COMP_CWORD={len(words) - 1}
_naksha_complete
printf '%s\\n' "${{COMPREPLY[@]}}"
"""
    result = subprocess.run(["bash", "-c", program], capture_output=True, text=True, timeout=30, check=True)
    return sorted(line for line in result.stdout.splitlines() if line)


@needs_kubectl
@needs_entry_points
def test_kubectl_runs_naksha_as_its_plugin():
    assert kubectl("naksha", "--version").stdout.strip().startswith("naksha ")
    listed = kubectl("plugin", "list").stdout
    assert str(BIN / "kubectl-naksha") in listed
    refused = kubectl("naksha", "snapshot", "--phase", "x")
    assert refused.returncode == 2 and refused.stderr.startswith("kubectl naksha: configuration error:")


@needs_kubectl
@needs_entry_points
def test_kubectl_completes_the_plugins_commands():
    offered = kubectl("__complete", "naksha", "rollout", "").stdout.splitlines()
    assert offered == ["abort", "promote", "retry", "status", ":4"]
    assert kubectl("__complete", "naksha", "rep").stdout.splitlines() == ["report", ":4"]


def test_the_completion_tree_offers_commands_then_their_options():
    root = tree(_parser())
    assert candidates(root, ["de"]) == ["demo", "demo-app"]
    assert candidates(root, ["demo", "--sc"]) == ["--scene"]
    assert candidates(root, ["agent", ""]) == ["approve", "reject", "token"]
    assert candidates(root, ["report", ""]) == ["--help", "--junit", "--kubeconfig", "--out"]


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_the_bash_script_completes_commands_subcommands_and_options():
    shell_script = script("bash", tree(_parser()))
    assert complete_in_bash(shell_script, "naksha ro") == ["rollout"]
    assert complete_in_bash(shell_script, "naksha rollout ") == ["abort", "promote", "retry", "status"]
    assert complete_in_bash(shell_script, "naksha demo --k") == ["--keep"]
    assert complete_in_bash(shell_script, "naksha local up --backend real --no") == ["--no-kubelet"]
    assert "complete -o default -F _naksha_complete naksha kubectl-naksha" in shell_script


def test_the_zsh_script_loads_bash_completion_first():
    assert script("zsh", tree(_parser())).startswith("autoload -U +X bashcompinit && bashcompinit\n")
