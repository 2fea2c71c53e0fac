#!/usr/bin/env bash
# Fetches the JUnit schema CI tools validate against (Jenkins' junit-10.xsd, as pytest ships it in its
# source distribution's tests) into .venv/share/junit/, for the JUnit report tests. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
target=.venv/share/junit/junit-10.xsd
[ -s "$target" ] && exit 0
version=$(.venv/bin/python -c 'import pytest; print(pytest.__version__)')
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "setup: fetching junit-10.xsd (from the pytest $version source distribution)"
.venv/bin/python -m pip download --disable-pip-version-check --quiet --no-deps --no-binary :all: \
  "pytest==$version" -d "$work" >"$work/pip.log" 2>&1 || { cat "$work/pip.log"; exit 1; }
tar -xzf "$work"/pytest-*.tar.gz -C "$work" --wildcards '*/testing/example_scripts/junit-10.xsd'
mkdir -p "$(dirname "$target")"
cp "$work"/pytest-*/testing/example_scripts/junit-10.xsd "$target"
