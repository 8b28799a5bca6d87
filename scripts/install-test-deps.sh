#!/usr/bin/env bash
# Installs what Portier's tests need beyond Go: curl, nginx (with its stream
# module) and haproxy (real peers of the interop tests), chromium (the dashboard's browser
# test), iproute2 (network namespaces for the route checks) and gcc (the
# race detector needs cgo). Idempotent and quick when everything is
# present: apt-get runs only if something is missing. As root it installs
# with apt-get; otherwise it names the packages to install and fails.
#
# Usage: scripts/install-test-deps.sh [command:package ...]
# Extra arguments add programs to the list (bench/compare.sh adds wrk, caddy).
set -euo pipefail

# command:package pairs; nginx and haproxy live in /usr/sbin. A command
# given as an absolute path is a file the package installs (nginx's stream
# module, for the tcp listener's PROXY protocol test).
wanted=(curl:curl nginx:nginx haproxy:haproxy gcc:gcc chromium:chromium ip:iproute2
	/usr/lib/nginx/modules/ngx_stream_module.so:libnginx-mod-stream "$@")

missing=()
for pair in "${wanted[@]}"; do
	cmd=${pair%%:*} pkg=${pair##*:}
	if [[ $cmd == /* ]]; then
		[[ -e $cmd ]] || missing+=("$pkg")
		continue
	fi
	if ! command -v "$cmd" >/dev/null 2>&1 && [[ ! -x /usr/sbin/$cmd ]]; then
		missing+=("$pkg")
	fi
done
((${#missing[@]} == 0)) && exit 0

if [[ $(id -u) != 0 ]]; then
	echo "install-test-deps: missing ${missing[*]}; install them with:" >&2
	echo "  sudo apt-get install -y ${missing[*]}" >&2
	exit 1
fi

echo "install-test-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# Packages like nginx start their service on install; the tests start their
# own instances on loopback ports, so keep the packaged ones from starting
# (a policy-rc.d that says "no"), unless the machine already has a policy.
policy=/usr/sbin/policy-rc.d
if [[ ! -e $policy ]]; then
	printf '#!/bin/sh\nexit 101\n' >"$policy"
	chmod +x "$policy"
	trap 'rm -f "$policy"' EXIT
fi
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-test-deps: done" >&2
