<?php

return [
    'paths' => [resource_path('views')],
    // fpm-bridge sets VIEW_COMPILED_PATH to a folder under /tmp on Lambda (the code is read-only there).
    'compiled' => env('VIEW_COMPILED_PATH', realpath(storage_path('framework/views'))),
];
