<?php

namespace App\Exceptions;

use Illuminate\Foundation\Exceptions\Handler as ExceptionHandler;

class Handler extends ExceptionHandler
{
    /** Never flashed back into the session on a validation error. */
    protected $dontFlash = [
        'current_password',
        'password',
        'password_confirmation',
    ];
}
