#!/bin/sh
# Installs the system tools the test suite drives (idempotent: does nothing when all are present).
# Runs in: `npm test` (pretest) and .ci/run, on Debian-like machines.
set -eu
missing=""
command -v ss >/dev/null 2>&1 || missing="$missing iproute2"
command -v ps >/dev/null 2>&1 || missing="$missing procps"
command -v unshare >/dev/null 2>&1 || missing="$missing util-linux"
command -v systemd-socket-activate >/dev/null 2>&1 || missing="$missing systemd"
command -v promtool >/dev/null 2>&1 || missing="$missing prometheus"
command -v chromium >/dev/null 2>&1 || missing="$missing chromium"
# The balancer tests (test/integration/balancer*.test.ts) run a real haproxy and check nginx's config.
command -v haproxy >/dev/null 2>&1 || missing="$missing haproxy"
command -v nginx >/dev/null 2>&1 || missing="$missing nginx"
[ -e /usr/lib/nginx/modules/ngx_stream_module.so ] || missing="$missing libnginx-mod-stream"
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "test-deps: please install:$missing (needed by the integration tests)" >&2
  exit 1
fi
echo "test-deps: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
