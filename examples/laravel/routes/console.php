<?php

use Illuminate\Support\Facades\Artisan;

// On Lambda: {"cli": "artisan app:greet Zoë"} runs it and returns its output and exit code.
Artisan::command('app:greet {name} {--fail : end with exit code 3}', function (string $name) {
    $this->info("Hello, {$name}, from artisan on PHP ".PHP_VERSION);

    return $this->option('fail') ? 3 : 0;
})->purpose('Greet someone from the console');
