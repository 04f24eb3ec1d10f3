<?php

// The front controller: fpm-bridge runs it for every path that names no file in public/. Symfony's runtime
// (vendor/autoload_runtime.php) reads .env, builds the request from PHP's globals and sends the response.

use App\Kernel;

require_once dirname(__DIR__).'/vendor/autoload_runtime.php';

return function (array $context) {
    return new Kernel($context['APP_ENV'], (bool) $context['APP_DEBUG']);
};
