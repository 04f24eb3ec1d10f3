<?php

namespace App\Http\Controllers;

use Illuminate\Http\JsonResponse;
use Illuminate\Http\Request;

class RequestController
{
    /** The request as the app sees it, for checking what fpm-bridge passes behind each front. */
    public function __invoke(Request $request): JsonResponse
    {
        return new JsonResponse([
            'method' => $request->method(),
            'uri' => $request->getRequestUri(),
            'query_string' => $request->server('QUERY_STRING'),
            'query' => $request->query(),
            'path' => $request->path(),
            'url' => $request->fullUrl(),
            'secure' => $request->isSecure(),
            'host' => $request->getHost(),
            'port' => $request->getPort(),
            'ip' => $request->ip(),
        ], 200, [], JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE);
    }
}
