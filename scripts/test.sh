#!/bin/sh
# The whole suite (`npm test`, after the build): on this machine's Node, then on Node 26, the
# Active LTS, when this Node is older (Node 26 comes from the npm registry's `node` package).
# RAAS_TEST_LTS=0 skips the second run.
# Runs in: the developer's shell and CI.
set -eu
files=$(find dist/test -name '*.test.js' | sort)
# shellcheck disable=SC2086
node --test --test-concurrency=2 $files
major=$(node -p 'process.versions.node.split(".")[0]')
if [ "${RAAS_TEST_LTS:-1}" != 0 ] && [ "$major" -lt 26 ]; then
  echo "== the same suite on Node 26 (Active LTS); RAAS_TEST_LTS=0 skips it =="
  # shellcheck disable=SC2086
  npm exec --yes --package=node@26 -- node --test --test-concurrency=2 $files
fi
