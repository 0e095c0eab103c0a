#!/usr/bin/env bash
# Installs the Debian packages that the tests and benchmarks start for real, when any is missing
# (systemd for `systemd-analyze verify` of contrib/registry-gate.service; podman, runc and iproute2
# to build and run the image and the compose services in a network namespace of the test's own;
# chromium: the browser the web UI tests drive through playwright-core, which downloads none;
# prometheus, whose server scrapes the gateway's /metrics and whose promtool lints them; containerd,
# whose ctr the containerd tests push and pull with: named although docker.io depends on it;
# rsyslog with rsyslog-openssl, its TLS stream driver: the syslog collector the audit trail is sent to).
set -euo pipefail
packages=(docker-registry skopeo docker.io containerd apache2-utils nginx-light slapd ldap-utils wrk curl openssl ca-certificates systemd podman runc iproute2 chromium haproxy redis-server prometheus rsyslog rsyslog-openssl)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "installing Debian packages: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
