#!/usr/bin/env bash
# Installs real PHP applications from Debian 12's packages and configures them to run behind fpm-bridge, for
# the tests in test/apps/ (and as a worked example of the settings each app needs). Idempotent: run it again
# and it repairs or repeats nothing it does not have to.
#
#   scripts/apps/setup.sh install            apt-get the apps, MariaDB, Chromium and the PHP extensions
#   scripts/apps/setup.sh dokuwiki           a wiki instance for the host 127.0.0.1, editable without login
#   scripts/apps/setup.sh mariadb-start      a private MariaDB server on a Unix socket (no TCP port)
#   scripts/apps/setup.sh adminer            a database to browse, and the login for it
#   scripts/apps/setup.sh wordpress          an empty WordPress database and the docroot fpm-bridge serves
#   scripts/apps/setup.sh mariadb-stop       shuts that server down
#
# The fpm-bridge settings for each app are in scripts/apps/<app>.yml. Commands print KEY=VALUE lines on
# stdout with what else a test needs (logins, paths).
#
# FPM_BRIDGE_APPS_INSTANCE=NAME makes a second, independent set (its own MariaDB, databases, docroot and
# WordPress config): the front benchmark (bench/apps.ts) measures WordPress while test suites drop and
# recreate the tests' database.
set -euo pipefail

INSTANCE=${FPM_BRIDGE_APPS_INSTANCE:-fpm-bridge-apps}
[[ $INSTANCE =~ ^[a-z0-9-]+$ ]] || { echo "setup.sh: FPM_BRIDGE_APPS_INSTANCE must be lowercase letters, digits and -" >&2; exit 1; }
# Everything this script creates lives under here, apart from the two config files the Debian packages only
# look for in /etc (named below).
BASE=/var/lib/$INSTANCE
MARIADB_DIR=$BASE/mariadb
MARIADB_SOCKET=$MARIADB_DIR/mysqld.sock
# The database login the tests use, for WordPress and for the Adminer login.
DB_USER=fpmbridge
DB_PASSWORD=fpmbridge-apps
WP_DB=wordpress_fpmbridge
ADMINER_DB=adminer_fpmbridge
# Debian's wp-config.php loads /etc/wordpress/config-$WORDPRESS_CONFIG.php: the name wordpress.yml sets.
WP_CONFIG_NAME=$INSTANCE

# .ci/run installs the same list up front.
PACKAGES=(dokuwiki wordpress wordpress-theme-twentytwentythree adminer mariadb-server php8.2-mysql php8.2-gd
  chromium)

die() {
  echo "setup.sh: $*" >&2
  exit 1
}

cmd_install() {
  local missing=()
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  [ "$(id -u)" = 0 ] || die "not root: run sudo apt-get install --no-install-recommends ${missing[*]}"
  command -v apt-get >/dev/null || die "no apt-get: install ${missing[*]} (Debian 12 packages) by hand"
  export DEBIAN_FRONTEND=noninteractive
  # Only when a package is unknown: `apt-get update` costs seconds that CI has already spent.
  apt-cache show "${missing[@]}" >/dev/null 2>&1 || apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
    die "apt-get install ${missing[*]} failed"
}

# DokuWiki's Debian preload.php picks a "farm animal" config directory by Host header: the animal for
# 127.0.0.1 gets its own settings and data, and the wiki of the host itself stays untouched.
cmd_dokuwiki() {
  local conf=/etc/dokuwiki/farm/127.0.0.1 data=$BASE/dokuwiki/data
  mkdir -p "$conf"
  # A fresh wiki every time: no page from an earlier run. The cache (compiled CSS and JS) may stay.
  [ -d "$data" ] && find "$data" -mindepth 1 -maxdepth 1 ! -name cache -exec rm -rf {} +
  for d in pages attic meta media media_attic media_meta cache index locks tmp log; do mkdir -p "$data/$d"; done
  cat >"$conf/local.php" <<PHP
<?php
// Written by fpm-bridge's scripts/apps/setup.sh: a throwaway wiki for the tests in test/apps/.
\$conf['title'] = 'fpm-bridge test wiki';
\$conf['savedir'] = '$data';
// No ACL: anyone may edit, which is what the test does without logging in.
\$conf['useacl'] = 0;
PHP
  # Debian enables DokuWiki's "testing" plugin, which puts a warning on every page.
  printf '<?php\n$plugins['"'testing'"'] = 0;\n' >"$conf/plugins.local.php"
  # php-fpm runs as the user fpm-bridge runs as; the wiki writes pages, locks and caches here.
  chown -R "$(id -u):$(id -g)" "$BASE/dokuwiki"
}

# The package needs no setup (scripts/apps/adminer.yml serves it): a database with one table to look at, and
# the login to type in.
cmd_adminer() {
  sql "CREATE DATABASE IF NOT EXISTS \`$ADMINER_DB\`;
    CREATE OR REPLACE TABLE \`$ADMINER_DB\`.greetings (id INT PRIMARY KEY, text VARCHAR(100));
    INSERT INTO \`$ADMINER_DB\`.greetings VALUES (1, 'hello from MariaDB');"
  echo "dbName=$ADMINER_DB"
  echo "dbServer=localhost:$MARIADB_SOCKET"
  echo "dbUser=$DB_USER"
  echo "dbPassword=$DB_PASSWORD"
}

sql() { mariadb --socket="$MARIADB_SOCKET" -uroot -e "$1"; }

cmd_mariadb_start() {
  if mariadb-admin --socket="$MARIADB_SOCKET" -uroot ping >/dev/null 2>&1; then
    echo "started=0"
    return 0
  fi
  # Its own tmpdir: the caller's TMPDIR may be one the mysql user cannot write (InnoDB then refuses to start).
  mkdir -p "$MARIADB_DIR/tmp"
  chown mysql:mysql "$MARIADB_DIR" "$MARIADB_DIR/tmp"
  if [ ! -d "$MARIADB_DIR/data/mysql" ]; then
    TMPDIR="$MARIADB_DIR/tmp" mariadb-install-db --user=mysql --datadir="$MARIADB_DIR/data" --skip-test-db \
      --auth-root-authentication-method=socket >"$MARIADB_DIR/install.log" 2>&1 ||
      die "mariadb-install-db failed: see $MARIADB_DIR/install.log"
  fi
  # --no-defaults: none of /etc/mysql's settings (its socket, port 3306, log paths) apply to this server.
  # setsid and the redirects detach it, so whoever runs this script is not kept waiting on its output.
  setsid mariadbd --no-defaults --user=mysql --datadir="$MARIADB_DIR/data" --tmpdir="$MARIADB_DIR/tmp" \
    --socket="$MARIADB_SOCKET" \
    --pid-file="$MARIADB_DIR/mariadbd.pid" --skip-networking --log-error="$MARIADB_DIR/error.log" \
    </dev/null >/dev/null 2>&1 &
  for _ in $(seq 1 300); do
    if mariadb-admin --socket="$MARIADB_SOCKET" -uroot ping >/dev/null 2>&1; then
      sql "CREATE USER IF NOT EXISTS '$DB_USER'@'localhost' IDENTIFIED BY '$DB_PASSWORD';
        GRANT ALL ON \`$WP_DB\`.* TO '$DB_USER'@'localhost';
        GRANT ALL ON \`$ADMINER_DB\`.* TO '$DB_USER'@'localhost';"
      echo "started=1"
      return 0
    fi
    sleep 0.1
  done
  die "MariaDB did not answer on $MARIADB_SOCKET within 30 s: see $MARIADB_DIR/error.log"
}

cmd_mariadb_stop() {
  mariadb-admin --socket="$MARIADB_SOCKET" -uroot shutdown 2>/dev/null || true
}

# Debian keeps WordPress in /usr/share/wordpress and its wp-content (themes, plugins, uploads) in
# /var/lib/wordpress/wp-content, joined by an Apache alias. fpm-bridge has no aliases: the docroot is a
# directory of symlinks to both, which fpm-bridge follows (symlinks: follow, its default).
cmd_wordpress() {
  local root=$BASE/wordpress
  mkdir -p "$root"
  for f in /usr/share/wordpress/* /usr/share/wordpress/.htaccess; do
    [ "$(basename "$f")" = wp-content ] || ln -sfn "$f" "$root/"
  done
  ln -sfn /var/lib/wordpress/wp-content "$root/wp-content"
  # Uploads are written by php-fpm, which runs as the user fpm-bridge runs as.
  mkdir -p /var/lib/wordpress/wp-content/uploads
  chown -R "$(id -u):$(id -g)" /var/lib/wordpress/wp-content/uploads
  cat >"/etc/wordpress/config-$WP_CONFIG_NAME.php" <<PHP
<?php
// Written by fpm-bridge's scripts/apps/setup.sh for the tests in test/apps/.
define('DB_NAME', '$WP_DB');
define('DB_USER', '$DB_USER');
define('DB_PASSWORD', '$DB_PASSWORD');
define('DB_HOST', 'localhost:$MARIADB_SOCKET');
// Files go straight to disk: no FTP credentials form when WordPress writes.
define('FS_METHOD', 'direct');
// WordPress runs its scheduled tasks from page loads, through an HTTP request to its own URL: in a test or a
// measurement that is a request nobody made, and none of the flows needs those tasks.
define('DISABLE_WP_CRON', true);
PHP
  # A fresh database: every run starts at WordPress's install wizard.
  sql "DROP DATABASE IF EXISTS \`$WP_DB\`; CREATE DATABASE \`$WP_DB\`;"
  echo "uploads=/var/lib/wordpress/wp-content/uploads"
  echo "docroot=$root"
  echo "config=$WP_CONFIG_NAME"
}

case "${1:-}" in
install) cmd_install ;;
dokuwiki) cmd_dokuwiki ;;
adminer) cmd_adminer ;;
wordpress) cmd_wordpress ;;
mariadb-start) cmd_mariadb_start ;;
mariadb-stop) cmd_mariadb_stop ;;
*) die "usage: setup.sh install|dokuwiki|adminer|wordpress|mariadb-start|mariadb-stop" ;;
esac
