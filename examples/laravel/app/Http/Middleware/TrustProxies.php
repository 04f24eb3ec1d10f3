<?php

namespace App\Http\Middleware;

use Illuminate\Http\Middleware\TrustProxies as Middleware;
use Illuminate\Http\Request;

class TrustProxies extends Middleware
{
    /**
     * No proxy is trusted, on purpose. fpm-bridge has already given PHP the client's address, the scheme and
     * the port: from the event on Lambda (API Gateway, Function URLs, ALB), from the X-Forwarded-* headers of
     * its own `trustedProxies` behind `fpm-bridge serve`. REMOTE_ADDR is then the client, not a proxy:
     * trusting it ('*') would let any client set its own address and scheme with X-Forwarded-For/-Proto.
     *
     * @var array<int, string>|string|null
     */
    protected $proxies;

    protected $headers =
        Request::HEADER_X_FORWARDED_FOR |
        Request::HEADER_X_FORWARDED_HOST |
        Request::HEADER_X_FORWARDED_PORT |
        Request::HEADER_X_FORWARDED_PROTO |
        Request::HEADER_X_FORWARDED_AWS_ELB;
}
