#!/usr/bin/env bash
# Installs what the harness needs on a Debian machine: Prometheus (+ promtool), Alertmanager, Caddy, HAProxy, stress-ng,
# Chromium (headless: the tests render the HTML report in it),
# Python 3.11+ with venv, then a virtualenv in .venv with the harness and its test tools.
# Safe to run again: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
for tool in prometheus promtool prometheus-alertmanager caddy haproxy stress-ng chromium; do
  command -v "$tool" >/dev/null 2>&1 || need_apt+=("$tool")
done
python=""
for candidate in python3.13 python3.12 python3.11 python3; do
  if command -v "$candidate" >/dev/null 2>&1 &&
     "$candidate" -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    python=$candidate
    break
  fi
done
[ -n "$python" ] || need_apt+=(python3 python3-venv)

if [ ${#need_apt[@]} -gt 0 ]; then
  packages=()
  for tool in "${need_apt[@]}"; do
    case "$tool" in
      prometheus|promtool) packages+=(prometheus) ;;
      *) packages+=("$tool") ;;
    esac
  done
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "setup: installing Debian packages: ${packages[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends $(printf '%s\n' "${packages[@]}" | sort -u) >/dev/null
  # apt may start services on some machines: the harness runs its own private instances instead.
  python=${python:-python3}
fi

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $python"
  "$python" -m venv .venv
fi
echo "setup: installing the harness into .venv (log: .venv/pip-install.log)"
if ! { .venv/bin/python -m pip install --disable-pip-version-check --upgrade pip &&
       .venv/bin/python -m pip install --disable-pip-version-check -e '.[dev]'; } >.venv/pip-install.log 2>&1; then
  tail -n 40 .venv/pip-install.log
  echo "setup: pip install failed; the whole log is in .venv/pip-install.log" >&2
  exit 1
fi
echo "setup: ready ($(.venv/bin/harness --version); $(prometheus --version 2>&1 | head -n 1); caddy $(caddy version | cut -d' ' -f1))"
