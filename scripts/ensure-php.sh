#!/usr/bin/env bash
# Makes sure php-fpm and the php CLI (Debian 12: php8.2-fpm, php8.2-cli) are installed: installs them with
# apt-get when we are root, otherwise prints the exact command to run. Used by `npm start` and `npm test`.
set -euo pipefail
have_fpm() {
  [ -n "${FPM_BRIDGE_PHP_FPM:-}" ] && [ -x "${FPM_BRIDGE_PHP_FPM}" ] && return 0
  command -v php-fpm >/dev/null 2>&1 && return 0
  compgen -G '/usr/sbin/php-fpm*' >/dev/null 2>&1 && return 0
  [ -x /opt/bin/php-fpm ]
}
have_cli() { command -v php >/dev/null 2>&1; }
if have_fpm && have_cli; then exit 0; fi
packages="php8.2-fpm php8.2-cli"
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "fpm-bridge: installing $packages with apt-get" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends $packages >/dev/null
  exit 0
fi
echo "fpm-bridge: php-fpm and php are needed — run: sudo apt-get install $packages (or set FPM_BRIDGE_PHP_FPM=/path/to/php-fpm)" >&2
exit 1
