<?php

// The application and its three kernels, as every Laravel 10 app builds them. Nothing here knows about
// Lambda: fpm-bridge moves storage and the bootstrap caches to /tmp through environment variables
// (LARAVEL_STORAGE_PATH, APP_*_CACHE), which Laravel reads itself.

$app = new Illuminate\Foundation\Application(
    $_ENV['APP_BASE_PATH'] ?? dirname(__DIR__)
);

$app->singleton(Illuminate\Contracts\Http\Kernel::class, App\Http\Kernel::class);
$app->singleton(Illuminate\Contracts\Console\Kernel::class, App\Console\Kernel::class);
$app->singleton(Illuminate\Contracts\Debug\ExceptionHandler::class, App\Exceptions\Handler::class);

return $app;
