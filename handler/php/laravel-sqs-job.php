<?php

declare(strict_types=1);

namespace FpmBridge\Laravel;

use Illuminate\Container\Container;
use Illuminate\Contracts\Queue\Job as JobContract;
use Illuminate\Queue\Jobs\Job;

/**
 * One record of a Lambda SQS event as a Laravel queue job (laravel-sqs.php). Lambda deletes the records it is
 * not told failed, and makes the others visible again after the queue's visibility timeout: so delete()
 * (the job is done) and release() (it may be tried again) only mark the job, as Laravel's Job does, and
 * laravel-sqs.php reports the records of jobs not deleted.
 */
final class SqsRecordJob extends Job implements JobContract
{
    /** @param array{messageId: string, body: string, attributes?: array<string, string>, eventSourceARN?: string} $record */
    public function __construct(Container $container, private readonly array $record, string $connectionName)
    {
        $this->container = $container;
        $this->connectionName = $connectionName;
        // arn:aws:sqs:REGION:ACCOUNT:NAME
        $arn = $record['eventSourceARN'] ?? '';
        $this->queue = substr($arn, strrpos($arn, ':') === false ? 0 : strrpos($arn, ':') + 1);
    }

    public function getJobId()
    {
        return $this->record['messageId'];
    }

    public function getRawBody()
    {
        return $this->record['body'];
    }

    /** SQS counts deliveries: the first is attempt 1. */
    public function attempts()
    {
        return (int) ($this->record['attributes']['ApproximateReceiveCount'] ?? 1);
    }
}
