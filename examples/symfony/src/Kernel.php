<?php

namespace App;

use Symfony\Bundle\FrameworkBundle\Kernel\MicroKernelTrait;
use Symfony\Component\HttpKernel\Kernel as BaseKernel;

/**
 * The micro kernel: bundles from config/bundles.php, settings from config/packages/ and config/services.yaml,
 * routes from the controllers' attributes. Nothing here knows about Lambda: fpm-bridge moves the cache and
 * log directories to /tmp through APP_CACHE_DIR and APP_LOG_DIR, which MicroKernelTrait reads.
 */
class Kernel extends BaseKernel
{
    use MicroKernelTrait;
}
