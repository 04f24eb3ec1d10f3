<?php

namespace App\Jobs;

use Illuminate\Bus\Queueable;
use Illuminate\Contracts\Queue\ShouldQueue;
use Illuminate\Foundation\Bus\Dispatchable;
use Illuminate\Queue\InteractsWithQueue;
use Illuminate\Support\Facades\Log;
use RuntimeException;

/**
 * A queued job: `RecordVisit::dispatch('Zoë')` puts it on the default connection (SQS on Lambda); fpm-bridge
 * runs it when the SQS event arrives. It appends the visitor to storage/app/visits.log, and throws for the
 * visitor "crash", so that a failing job can be seen to be retried alone.
 */
class RecordVisit implements ShouldQueue
{
    use Dispatchable, InteractsWithQueue, Queueable;

    public function __construct(public string $visitor)
    {
    }

    public function handle(): void
    {
        if ($this->visitor === 'crash') {
            throw new RuntimeException('cannot record a visit for "crash"');
        }
        file_put_contents(storage_path('app/visits.log'), "{$this->visitor}\n", FILE_APPEND);
        Log::info('visit recorded', ['visitor' => $this->visitor, 'attempt' => $this->attempts()]);
    }
}
