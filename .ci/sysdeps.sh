#!/usr/bin/env bash
# Debian packages the test suite needs, installed only when missing:
#   chromium + chromium-driver: the Label Studio browser test (headless, driven by Playwright)
#   openjdk-17-jre-headless: Spark (the predictor's --engine spark)
set -euo pipefail
source "$(dirname "$0")/apt.sh"
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium chromium-driver)
command -v java >/dev/null 2>&1 || need+=(openjdk-17-jre-headless)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing Debian packages: ${need[*]}"
  apt_install "${need[@]}"
fi
