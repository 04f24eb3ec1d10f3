<?php
// A direct script: shows the CGI params the request produced.
header('Content-Type: text/plain; charset=utf-8');
foreach (['SCRIPT_NAME', 'PATH_INFO', 'QUERY_STRING', 'REQUEST_URI', 'REMOTE_ADDR', 'SERVER_NAME', 'SERVER_PORT'] as $k) {
    printf("%-12s %s\n", $k, $_SERVER[$k] ?? '(unset)');
}
