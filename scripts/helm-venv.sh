#!/usr/bin/env bash
# Creates the Python 3.12 virtualenv that carries helm-sdkpy (Helm's library) for the chart tests.
# Without a Python 3.12 interpreter it says so and exits 0: those tests then skip with that reason.
set -euo pipefail
venv="${1:-.venv-helm}"
stamp="$venv/.installed"
[[ -f "$stamp" ]] && exit 0
python312=""
for candidate in "${NAKSHA_HELM_PYTHON:-}" python3.12 "$HOME/.pyenv/versions/3.12.1/bin/python3.12" /root/.pyenv/versions/3.12*/bin/python3.12; do
    if [[ -n "$candidate" ]] && command -v "$candidate" >/dev/null 2>&1; then
        python312="$(command -v "$candidate")"
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
