<?php

namespace App\Console;

use Illuminate\Console\Scheduling\Schedule;
use Illuminate\Foundation\Console\Kernel as ConsoleKernel;
use Illuminate\Support\Facades\Log;

class Kernel extends ConsoleKernel
{
    /**
     * What `artisan schedule:run` runs. On Lambda an EventBridge schedule (serverless.yml: `schedule:
     * rate(1 minute)`) invokes the function and fpm-bridge runs `artisan schedule:run`.
     */
    protected function schedule(Schedule $schedule): void
    {
        $schedule->call(function () {
            file_put_contents(storage_path('app/ticks.log'), date(DATE_ATOM)."\n", FILE_APPEND);
            Log::info('scheduled tick');
        })->name('tick')->everyMinute();
    }

    protected function commands(): void
    {
        require base_path('routes/console.php');
    }
}
