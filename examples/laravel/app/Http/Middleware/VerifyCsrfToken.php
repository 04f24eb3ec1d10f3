<?php

namespace App\Http\Middleware;

use Illuminate\Foundation\Http\Middleware\VerifyCsrfToken as Middleware;

class VerifyCsrfToken extends Middleware
{
    /** Every POST of the web group needs the session's token; the API group has no sessions. */
    protected $except = [];
}
