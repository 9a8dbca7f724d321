#!/usr/bin/env bash
# Side-by-side benchmark of swarmscope against anacrolix's CLI, aria2c and
# transmission-cli on one machine (see engine/benchtest/cmd/bench/main.go for what it measures).
#
#   testdata/bench/run.sh                      # 1 GiB, 4 swarmscope seeders, 3 rounds, everything
#   testdata/bench/run.sh -seeders aria2c      # the same from 4 aria2c seeders
#   testdata/bench/run.sh -size 64MiB -rounds 1
#   testdata/bench/run.sh -smoke               # the tiny version CI runs
#   testdata/bench/run.sh -help                # every flag
#
# Installs the Debian packages it needs when run as root and they are
# missing (the same list CI installs), then runs the Go program from the
# repository root. The report (markdown) goes to stdout, progress to stderr.
set -euo pipefail
cd "$(dirname "$0")/../.."

need=()
for tool in tmux:tmux opentracker:opentracker aria2c:aria2 transmission-cli:transmission-cli ip:iproute2; do
	command -v "${tool%%:*}" >/dev/null 2>&1 || need+=("${tool#*:}")
done
if ((${#need[@]})); then
	if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
		echo "installing: ${need[*]}" >&2
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq
		apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
	else
		echo "missing (Debian packages): ${need[*]}; those contenders are skipped" >&2
	fi
fi
exec go run ./engine/benchtest/cmd/bench "$@"
