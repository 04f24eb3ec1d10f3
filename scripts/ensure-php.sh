#!/usr/bin/env bash
# Makes sure php-fpm and the php CLI are installed: as root, installs the newest PHP the machine's apt offers
# (Debian 13: php8.4-fpm and php8.4-cli; Debian 12: php8.2-*); otherwise prints the exact command to run.
# Used by `npm start` and `npm test`.
set -euo pipefail
have_fpm() {
  [ -n "${FPM_BRIDGE_PHP_FPM:-}" ] && [ -x "${FPM_BRIDGE_PHP_FPM}" ] && return 0
  command -v php-fpm >/dev/null 2>&1 && return 0
  compgen -G '/usr/sbin/php-fpm*' >/dev/null 2>&1 && return 0
  [ -x /opt/bin/php-fpm ]
}
have_cli() { command -v php >/dev/null 2>&1; }
if have_fpm && have_cli; then exit 0; fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  for version in 8.4 8.3 8.2; do
    if apt-cache show "php$version-fpm" >/dev/null 2>&1; then
      packages="php$version-fpm php$version-cli"
      echo "fpm-bridge: installing $packages with apt-get" >&2
      apt-get install -y -qq --no-install-recommends $packages >/dev/null
      exit 0
    fi
  done
  echo "fpm-bridge: apt offers no php8.4-fpm, php8.3-fpm or php8.2-fpm here — set FPM_BRIDGE_PHP_FPM=/path/to/php-fpm" >&2
  exit 1
fi
echo "fpm-bridge: php-fpm and php are needed — run: sudo apt-get install php8.4-fpm php8.4-cli (Debian 13; php8.2-fpm php8.2-cli on Debian 12), or set FPM_BRIDGE_PHP_FPM=/path/to/php-fpm" >&2
exit 1
