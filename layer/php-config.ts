/**
 * The configuration files the layer ships, kept as strings so that the bundled CLI (`dist/cli.js`, which has
 * no files beside it) writes the same bytes as the sources do.
 */

/**
 * `/opt/php/8.4/cli/php.ini` and `…/fpm/php.ini`: PHP's settings for Lambda, read by the layer's `php` and
 * `php-fpm` with no environment set (the build points their compiled-in ini directories there).
 */
export function phpIni(php: string): string {
  return `; php.ini of the fpm-bridge Lambda layer, installed as /opt/php/${php}/cli/php.ini and /opt/php/${php}/fpm/php.ini.
;
; The layer's php and php-fpm are Debian's, with the directories they read their php.ini and conf.d from
; (/etc/php/${php}/cli, /etc/php/${php}/fpm) rewritten to /opt/php/${php}/cli and …/fpm: any PHP started from the layer
; reads this file and loads the extensions in the conf.d beside it, with no PHPRC or PHP_INI_SCAN_DIR set. When
; fpm-bridge starts php-fpm or php (proxy/fpm/layer.ts) it adds the app's own php/conf.d (in the task root)
; after the layer's conf.d: an .ini file there overrides anything below. The "phpIni" setting
; (FPM_BRIDGE_PHP_INI) adds more directories. Settings left out keep PHP's built-in defaults.

; Extensions live in the layer, not in Debian's /usr/lib/php/<API version>.
extension_dir = /opt/lib/php/extensions

; --- Errors: never to the client, always to the log -------------------------------------------------------
; php-fpm sends PHP's log over FastCGI's stderr stream (no error_log set), which fpm-bridge writes to
; CloudWatch with the request id; the CLI writes it to stderr, which Lambda also sends to CloudWatch.
display_errors = Off
display_startup_errors = Off
log_errors = On
error_reporting = E_ALL
; No "X-Powered-By: PHP/${php}.x" header.
expose_php = Off

; --- OPcache ------------------------------------------------------------------------------------------------
; One php-fpm lives as long as the Lambda execution environment, so compiled scripts are reused across
; invocations; only the first request of a cold start compiles them.
opcache.enable = 1
; The CLI (console events, artisan) runs one command and exits: caching would only cost time.
opcache.enable_cli = 0
opcache.memory_consumption = 128
opcache.interned_strings_buffer = 16
; Enough for a framework and its vendor/ directory.
opcache.max_accelerated_files = 20000
; Timestamps stay checked (every 2 s, PHP's default): the code in /var/task never changes, but frameworks
; write PHP files to /tmp (compiled containers, views, config caches) and may rewrite them. An app that
; writes none can add "opcache.validate_timestamps = 0" in its php/conf.d.
; As in Debian's own opcache.ini: no JIT (it needs a JIT buffer and gains little for web requests).
opcache.jit = off

; --- Lambda's sandbox ------------------------------------------------------------------------------------------
; Only /tmp is writable.
sys_temp_dir = /tmp
upload_tmp_dir = /tmp
session.save_path = /tmp
; The read-only code never moves: resolved paths may be cached for the environment's life.
realpath_cache_size = 4096K
realpath_cache_ttl = 600
; The function's configured memory is the real limit; PHP's 128M default would fail scripts it could run.
memory_limit = 10240M
; fpm-bridge ends a request at the invocation's deadline (504) and recycles the worker; a PHP timer in
; between would only cut scripts short with a different error.
max_execution_time = 0
; An invocation's payload is at most 6 MB: a larger body never reaches PHP.
post_max_size = 6M
upload_max_filesize = 6M
; Lambda's clock is UTC; this silences PHP's warning about an unset zone.
date.timezone = UTC
; Debian's OpenSSL and curl look for CA certificates in /etc/ssl/certs/ca-certificates.crt; Amazon Linux 2023
; (the Lambda runtimes' system) keeps its bundle, which AWS keeps up to date, here.
openssl.cafile = /etc/pki/tls/certs/ca-bundle.crt
curl.cainfo = /etc/pki/tls/certs/ca-bundle.crt
; Assertions compiled out, as in production.
zend.assertions = -1
`;
}

/**
 * `/opt/php/8.4/fpm/php-fpm.conf`: for running the layer's php-fpm without fpm-bridge, which writes its own;
 * php-fpm finds it there by itself.
 */
export function phpFpmConf(php: string): string {
  return `; php-fpm configuration shipped in the layer as /opt/php/${php}/fpm/php-fpm.conf, where the layer's php-fpm looks
; for it, for running php-fpm without fpm-bridge (another Lambda handler, a custom runtime):
;   /opt/bin/php-fpm --nodaemonize --force-stderr
; (with PHP_INI_SCAN_DIR=/opt/php/${php}/fpm/conf.d:/var/task/php/conf.d to add the app's own ini files).
; fpm-bridge does not read it: it writes its own config at every start (proxy/fpm/fpm-conf.ts), with the same
; choices and a private socket.
[global]
; Lambda's file system is read-only except /tmp.
pid = /tmp/php-fpm.pid
; php-fpm opens its error_log even when it does not write to it (its default, /var/log/php-fpm.log, cannot be
; created on Lambda and php-fpm would not start). With --nodaemonize --force-stderr the log goes to stderr,
; which Lambda sends to CloudWatch.
error_log = /dev/null
; The process that starts php-fpm supervises it: stay in the foreground as its child.
daemonize = no
log_limit = 16384

[default]
listen = /tmp/php-fpm.sock
listen.mode = 0600
; One execution environment handles one request at a time: one worker, started at once (no cold fork later).
pm = static
pm.max_children = 1
; Lambda's environment variables (AWS credentials, the function's settings) reach PHP through getenv().
clear_env = no
; error_log() and php://stderr output of the worker reach the log, undecorated.
catch_workers_output = yes
decorate_workers_output = no
; Only .php files run, whatever path a request names.
security.limit_extensions = .php
`;
}
