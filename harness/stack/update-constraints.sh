#!/bin/bash
# Regenerate harness/stack/constraints.txt: resolve requirements.txt next
# to this script in a fresh venv from PyPI and freeze it (tox -e
# stack-constraints).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

export PIP_CONFIG_FILE=/dev/null PIP_DISABLE_PIP_VERSION_CHECK=1
unset PIP_FIND_LINKS PIP_CONSTRAINT PIP_EXTRA_INDEX_URL PIP_INDEX_URL || true

python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet --upgrade pip
"$work/venv/bin/pip" install --quiet -r "$here/requirements.txt"
{
    echo "# Resolved once from requirements.txt (Python $("$work/venv/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])'), PyPI) and frozen;"
    echo "# regenerate with \`tox -e stack-constraints\`.  Do not edit by hand."
    "$work/venv/bin/pip" freeze --all --exclude-editable \
        | grep -v -i -E '^(pip|setuptools|wheel)=='
} > "$here/constraints.txt.new"
mv "$here/constraints.txt.new" "$here/constraints.txt"
echo "wrote $here/constraints.txt ($(grep -c '==' "$here/constraints.txt") pins)"
