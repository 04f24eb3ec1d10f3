<?php

return [
    // On Lambda QUEUE_CONNECTION=sqs (serverless.yml): jobs go to the SQS queue, whose events fpm-bridge runs
    // as jobs of this connection. Dispatching to SQS needs the AWS SDK for PHP (composer require
    // aws/aws-sdk-php), which Debian does not package: this example only consumes.
    'default' => env('QUEUE_CONNECTION', 'sync'),
    'connections' => [
        'sync' => ['driver' => 'sync'],
        'sqs' => [
            'driver' => 'sqs',
            'key' => env('AWS_ACCESS_KEY_ID'),
            'secret' => env('AWS_SECRET_ACCESS_KEY'),
            'prefix' => env('SQS_PREFIX', 'https://sqs.us-east-1.amazonaws.com/your-account-id'),
            'queue' => env('SQS_QUEUE', 'default'),
            'suffix' => env('SQS_SUFFIX'),
            'region' => env('AWS_DEFAULT_REGION', 'us-east-1'),
            'after_commit' => false,
        ],
    ],
    // No database here: jobs that fail for good are only logged. With a database, "database-uuids".
    'failed' => [
        'driver' => env('QUEUE_FAILED_DRIVER', 'null'),
    ],
];
