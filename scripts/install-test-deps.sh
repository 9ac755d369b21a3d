#!/usr/bin/env bash
# Install the system programs the test suite drives for real (we run as root on CI).
set -euo pipefail
need=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || need+=(chromium)
command -v sqlite3 >/dev/null 2>&1 || need+=(sqlite3)
# the table QR sheet is checked by rendering the PDF and scanning its codes (tests/edge/tables)
command -v pdftoppm >/dev/null 2>&1 || need+=(poppler-utils)
[ -d /usr/share/poppler/cMap/Adobe-GB1 ] || need+=(poppler-data)
command -v zbarimg >/dev/null 2>&1 || need+=(zbar-tools)
# a Chinese font, so the pages' screenshots (tests/browser) are readable
[ -n "$(fc-list :lang=zh 2>/dev/null)" ] || need+=(fonts-wqy-microhei)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "missing ${need[*]}: install them (apt-get install ${need[*]}) or run as root" >&2
    exit 1
  fi
  echo "installing ${need[*]} from Debian" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# promtool checks the alert rules, the scrape config and the dashboard's queries
# (tests/cloud/test_monitoring_config.py): only that binary, out of Debian's prometheus package
# (installing the package would also start a Prometheus server); without it the test checks less
if ! command -v promtool >/dev/null 2>&1; then
  if [ "$(id -u)" != 0 ]; then
    echo "promtool missing: tests/cloud/test_monitoring_config.py skips its promtool checks" >&2
  else
    tmp=$(mktemp -d)
    if (cd "$tmp" && { apt-get download prometheus >/dev/null 2>&1 \
          || { apt-get update -qq && apt-get download prometheus >/dev/null 2>&1; }; } \
        && dpkg-deb --fsys-tarfile prometheus_*.deb | tar -x ./usr/bin/promtool \
        && install -m 0755 usr/bin/promtool /usr/local/bin/promtool); then
      echo "installed promtool from Debian's prometheus package" >&2
    else
      echo "could not install promtool: the monitoring config test skips its promtool checks" >&2
    fi
    rm -rf "$tmp"
  fi
fi
