#!/bin/sh
# The whole suite (`npm test`, after the build): on this machine's Node, then on Node 26, the
# Active LTS, when this Node is older (Node 26 comes from the npm registry's `node` package).
# RAAS_TEST_LTS=0 skips the second run.
#
# Two suites, each with its own summary: the main one (test/unit, test/integration), then the
# storm suite (test/storm: chaos under load, signal storms), which loads the machine on purpose.
# A slow machine then shows as a slow storm suite, not as a flaky main suite. Both always run;
# the script fails if either failed.
# Runs in: the developer's shell and CI.
set -u
main=$(find dist/test/unit dist/test/integration -name '*.test.js' | sort)
storm=$(find dist/test/storm -name '*.test.js' | sort)
failed=0

# run NODE-COMMAND...: both suites on one Node.
run() {
  echo "== main suite ($("$@" --version)) =="
  # shellcheck disable=SC2086
  "$@" --test --test-concurrency=2 $main || failed=1
  echo "== storm suite ($("$@" --version)): chaos and signal storms =="
  # shellcheck disable=SC2086
  "$@" --test --test-concurrency=1 $storm || failed=1
}

run node
major=$(node -p 'process.versions.node.split(".")[0]')
if [ "${RAAS_TEST_LTS:-1}" != 0 ] && [ "$major" -lt 26 ]; then
  echo "== the same suites on Node 26 (Active LTS); RAAS_TEST_LTS=0 skips it =="
  run npm exec --yes --package=node@26 -- node
fi
exit "$failed"
