#!/usr/bin/env bash
# Create a virtualenv with PYTHON at DIR if missing; installs Debian's venv module when absent.
set -euo pipefail
python=$1 dir=$2
[ -x "$dir/bin/python" ] && exit 0
if ! "$python" -m venv "$dir" 2>/dev/null; then
  rm -rf "$dir"
  source "$(dirname "$0")/apt.sh"
  apt_install python3-venv
  "$python" -m venv "$dir"
fi
