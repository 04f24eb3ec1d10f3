<?php

/*
 * fpm-bridge hands an SQS event's records to a Symfony app's Messenger, as if the transport they were sent
 * through (FPM_BRIDGE_MESSENGER_TRANSPORT, "messengerTransport", default "async") had received them: each
 * message is decoded with that transport's serializer and dispatched with a ReceivedStamp naming it, so that
 * its handlers run (and the message is not sent again). The Lambda handler POSTs the event here through
 * php-fpm, with FPM_BRIDGE_APP_ROOT (the folder of bin/console); this script is not in the docroot, so no
 * HTTP request can reach it.
 *
 * The answer names the records to try again (Lambda's ReportBatchItemFailures): those whose handler threw,
 * unless what it threw is unrecoverable (UnrecoverableExceptionInterface) or the message cannot be decoded,
 * which Symfony's worker would not retry either. SQS redelivers after the queue's visibility timeout until
 * its redrive policy moves the message to a dead-letter queue: Messenger's retry strategy and failure
 * transport, which belong to `messenger:consume`, play no part.
 */

declare(strict_types=1);

use Symfony\Bundle\FrameworkBundle\Console\Application;
use Symfony\Component\Console\Command\LazyCommand;
use Symfony\Component\Dotenv\Dotenv;
use Symfony\Component\Messenger\Exception\HandlerFailedException;
use Symfony\Component\Messenger\Exception\MessageDecodingFailedException;
use Symfony\Component\Messenger\Exception\UnrecoverableExceptionInterface;
use Symfony\Component\Messenger\Stamp\ConsumedByWorkerStamp;
use Symfony\Component\Messenger\Stamp\ReceivedStamp;
use Symfony\Component\Messenger\Transport\Serialization\PhpSerializer;
use Symfony\Component\Messenger\Transport\Serialization\SerializerInterface;

$root = $_SERVER['FPM_BRIDGE_APP_ROOT'];
$transportName = $_SERVER['FPM_BRIDGE_MESSENGER_TRANSPORT'];
require $root.'/vendor/autoload.php';

// What Symfony's runtime does before public/index.php and bin/console: .env under the real environment.
if (class_exists(Dotenv::class) && is_file($root.'/.env')) {
    (new Dotenv())->bootEnv($root.'/.env');
}
// KERNEL_CLASS, as Symfony's KernelTestCase reads it; App\Kernel is what Symfony's skeleton names it.
$kernelClass = $_SERVER['KERNEL_CLASS'] ?? 'App\Kernel';
$kernel = new $kernelClass($_SERVER['APP_ENV'] ?? 'prod', filter_var($_SERVER['APP_DEBUG'] ?? false, FILTER_VALIDATE_BOOL));
$kernel->boot();

// The transports and the bus are private services; messenger:consume holds both (its receiver locator and
// routable bus), and a console command is what every Symfony app with Messenger has.
$command = (new Application($kernel))->find('messenger:consume');
if ($command instanceof LazyCommand) {
    $command = $command->getCommand();
}
$receivers = (fn () => $this->receiverLocator)->call($command);
$bus = (fn () => $this->routableBus)->call($command);
if (!$receivers->has($transportName)) {
    http_response_code(500);
    echo sprintf(
        'the app has no Messenger transport "%s" (it has %s): set "messengerTransport" (FPM_BRIDGE_MESSENGER_TRANSPORT) to the one its SQS queue is',
        $transportName,
        implode(', ', array_keys($receivers->getProvidedServices())) ?: 'none',
    );

    return;
}
$transport = $receivers->get($transportName);
// The transport's own serializer (framework.messenger.transports.NAME.serializer), as its receiver decodes with.
$serializer = property_exists($transport, 'serializer') ? (fn () => $this->serializer)->call($transport) : null;
if (!$serializer instanceof SerializerInterface) {
    $serializer = new PhpSerializer();
}

/** Symfony's worker retries no message whose handlers all threw an unrecoverable exception. */
function unrecoverable(Throwable $e): bool
{
    if ($e instanceof HandlerFailedException) {
        foreach ($e->getWrappedExceptions() as $wrapped) {
            if (!$wrapped instanceof UnrecoverableExceptionInterface) {
                return false;
            }
        }

        return true;
    }

    return $e instanceof UnrecoverableExceptionInterface || $e instanceof MessageDecodingFailedException;
}

$event = json_decode(file_get_contents('php://input'), true, 512, JSON_THROW_ON_ERROR);
$failures = [];
foreach ($event['Records'] as $record) {
    try {
        // Headers as the SQS transport sends them: its X-Symfony-Messenger attribute, and String attributes.
        $headers = [];
        $attributes = $record['messageAttributes'] ?? [];
        if (($attributes['X-Symfony-Messenger']['dataType'] ?? null) === 'String') {
            $headers = json_decode($attributes['X-Symfony-Messenger']['stringValue'], true);
            $headers = is_array($headers) ? $headers : [];
            unset($attributes['X-Symfony-Messenger']);
        }
        foreach ($attributes as $name => $attribute) {
            if (($attribute['dataType'] ?? null) === 'String') {
                $headers[$name] = $attribute['stringValue'];
            }
        }
        $envelope = $serializer->decode(['body' => $record['body'], 'headers' => $headers]);
        $bus->dispatch($envelope->with(new ReceivedStamp($transportName), new ConsumedByWorkerStamp()));
    } catch (Throwable $e) {
        $retried = !unrecoverable($e);
        // What failed on the first line; then the exceptions it wraps, each with its trace.
        error_log(sprintf(
            "SQS message %s failed%s: %s: %s\n%s",
            $record['messageId'],
            $retried ? '' : ' for good',
            $e::class,
            $e->getMessage(),
            $e,
        ));
        if ($retried) {
            $failures[] = ['itemIdentifier' => $record['messageId']];
        }
    }
}

header('Content-Type: application/json');
echo json_encode(['batchItemFailures' => $failures], JSON_THROW_ON_ERROR);
