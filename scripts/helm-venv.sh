#!/usr/bin/env bash
# Creates the Python 3.12 virtualenv that carries helm-sdkpy (Helm's library) for the chart tests.
# Without a Python 3.12 interpreter it says so and exits 0: those tests then skip with that reason.
set -euo pipefail
venv="${1:-.venv-helm}"
stamp="$venv/.installed"
[[ -f "$stamp" ]] && exit 0
python312=""
for candidate in "${NAKSHA_HELM_PYTHON:-}" python3.12 python3.13 "$HOME"/.pyenv/versions/3.1[23]*/bin/python3; do
    # pyenv shims exist even when the version is not selected: run it to be sure it works.
    if [[ -n "$candidate" ]] && "$candidate" -c 'import sys; assert sys.version_info >= (3, 12)' >/dev/null 2>&1; then
        python312="$candidate"
        break
    fi
done
if [[ -z "$python312" ]]; then
    echo "helm-venv: no Python 3.12 interpreter found; the Helm chart tests will be skipped" >&2
    exit 0
fi
"$python312" -m venv "$venv"
"$venv/bin/pip" install --quiet --upgrade pip
"$venv/bin/pip" install --quiet -r scripts/helm-requirements.txt
touch "$stamp"
