#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# The shipped Prometheus rules with the real tool: promtool check rules
# (syntax, names) and promtool test rules (tests/*-test.yml: each alert
# fires on the series that should fire it, and nothing fires on a healthy
# host). promtool comes with Debian's `prometheus` package; installed here
# when missing and run as root (apt-get), else the check fails.
set -euo pipefail
cd "$(dirname "$0")"
if ! command -v promtool > /dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get > /dev/null; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus > /dev/null
    else
        echo "promtool missing: apt-get install prometheus" >&2
        exit 1
    fi
fi
promtool check rules xen-mcelog-*.yml
cd tests
promtool test rules *-test.yml
