<?php

/*
 * fpm-bridge runs an SQS event's records as jobs of a Laravel app's default queue connection, with Laravel's
 * own worker, as `artisan queue:work` runs what it pulls from SQS. The Lambda handler POSTs the event here
 * through php-fpm, with FPM_BRIDGE_APP_ROOT (the folder of artisan and bootstrap/app.php); this script is not
 * in the docroot, so no HTTP request can reach it.
 *
 * The answer names the records to try again (Lambda's ReportBatchItemFailures): those whose job threw and was
 * released for another attempt. A job that succeeded, or failed for good (its $tries used up: its failed()
 * ran, the queue's failed-job provider logged it), is not named, and Lambda deletes its message. Without
 * $tries on the job, a job is tried until the queue's redrive policy moves it to a dead-letter queue.
 */

declare(strict_types=1);

use FpmBridge\Laravel\SqsRecordJob;
use Illuminate\Contracts\Console\Kernel;
use Illuminate\Contracts\Debug\ExceptionHandler;
use Illuminate\Queue\Events\JobFailed;
use Illuminate\Queue\WorkerOptions;

$root = $_SERVER['FPM_BRIDGE_APP_ROOT'];
require $root.'/vendor/autoload.php';
require __DIR__.'/laravel-sqs-job.php';

$app = require $root.'/bootstrap/app.php';
// The console kernel's bootstrap, as for queue:work: environment, configuration, providers.
$app->make(Kernel::class)->bootstrap();

$event = json_decode(file_get_contents('php://input'), true, 512, JSON_THROW_ON_ERROR);
$connection = $app['config']['queue.default'];
$worker = $app->make('queue.worker');
// queue:work's defaults, but for tries (0: the job's own $tries, else SQS's redrive policy decides), the
// timeout (the invocation's deadline bounds the batch: fpm-bridge answers and recycles php-fpm past it) and
// the backoff (SQS redelivers after the queue's visibility timeout, whatever a release asked for).
$options = new WorkerOptions(backoff: 0, timeout: 0, sleep: 0, maxTries: 0);
// What queue:work does with a job that failed for good: the failed-job provider (config queue.failed).
$app['events']->listen(JobFailed::class, static function (JobFailed $failed) use ($app): void {
    $app['queue.failer']->log(
        $failed->connectionName,
        $failed->job->getQueue(),
        $failed->job->getRawBody(),
        $failed->exception,
    );
});

// In maintenance mode queue:work runs nothing: every record comes back later.
$down = $app->isDownForMaintenance();
$failures = [];
foreach ($event['Records'] as $record) {
    $job = new SqsRecordJob($app, $record, $connection);
    if (!$down) {
        try {
            $worker->process($connection, $job, $options);
        } catch (Throwable $e) {
            // As the worker's runJob() does: the app's exception handler logs it.
            $app->make(ExceptionHandler::class)->report($e);
        }
    }
    if (!$job->isDeleted()) {
        $failures[] = ['itemIdentifier' => $record['messageId']];
    }
}

header('Content-Type: application/json');
echo json_encode(['batchItemFailures' => $failures], JSON_THROW_ON_ERROR);
