#!/usr/bin/env bash
# Debian packages the tests drive for real (docs/reference/test-services.md): promtool (prometheus),
# a ClickHouse server for the native-protocol transport test, PostgreSQL.
# Installs only what is missing; needs root (CI runs as root). Idempotent.
set -euo pipefail
need=()
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
[ -x /usr/sbin/clickhouse-server ] || need+=(clickhouse-server clickhouse-client)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "missing Debian packages: ${need[*]} (run as root or install them)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
echo "installed: ${need[*]}"
