export interface FpmConfOptions {
  /** Unix socket php-fpm listens on. */
  socket: string;
  /** Where php-fpm writes its pid. */
  pidFile: string;
  /** Static worker count: also the connection limit of the pool in front of it. */
  workers: number;
  /** Seconds after which php-fpm kills a worker still running a request; 0 = never. */
  requestTerminateTimeout: number;
  /** File endings php-fpm agrees to run (security.limit_extensions). */
  scriptExtensions: readonly string[];
}

/**
 * The php-fpm configuration fpm-bridge writes when it spawns php-fpm. Each line's reason is beside it,
 * as in Bref's layer config.
 */
export function renderFpmConf(o: FpmConfOptions): string {
  return `; Written by fpm-bridge for the php-fpm it supervises; regenerated at every start.
[global]
pid = ${o.pidFile}
; fpm-bridge starts php-fpm with --force-stderr, so the master writes its log (and the workers' output it
; collects) straight to the stderr pipe fpm-bridge reads. php-fpm still opens error_log at start, and its
; compiled-in default (/var/log/php-fpm.log) is not writable for a non-root user: /dev/null opens anywhere.
; A path such as /proc/self/fd/2 would fail: that pipe is a Unix socket, which cannot be opened by path.
error_log = /dev/null
; fpm-bridge is the supervisor: php-fpm stays in the foreground as its child.
daemonize = no
; Long PHP log lines (stack traces) are kept whole rather than cut at the 1024-byte default.
log_limit = 16384

[app]
; Private socket in a directory only we can enter: no other user can talk to these workers.
listen = ${o.socket}
listen.mode = 0600
; A fixed number of workers: fpm-bridge opens exactly that many connections and queues the rest itself.
pm = static
pm.max_children = ${o.workers}
; Environment variables of fpm-bridge reach PHP (getenv), as on Lambda and in containers.
clear_env = no
; Worker stderr (error_log() to stderr, php://stderr) is sent to the master and on to our log, undecorated.
catch_workers_output = yes
decorate_workers_output = no
; A stuck script is killed so its worker comes back. The wait for the next request on a kept connection
; counts too, so fpm-bridge closes idle ones first and answers 504 before this fires. 0 on Lambda: the
; handler restarts php-fpm after a timeout itself, and this clock would run on through a frozen sandbox.
request_terminate_timeout = ${o.requestTerminateTimeout}
; Only these file endings run as PHP, whatever path a request names.
security.limit_extensions = ${o.scriptExtensions.join(' ')}
`;
}
