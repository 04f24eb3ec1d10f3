<?php

namespace App\MessageHandler;

use App\Message\RecordVisit;
use Psr\Log\LoggerInterface;
use Symfony\Component\Messenger\Attribute\AsMessageHandler;

/**
 * Appends the visitor to visits.log in the log directory (/tmp/log on Lambda), and throws for the visitor
 * "crash", so that a failing message can be seen to be retried alone.
 */
#[AsMessageHandler]
final class RecordVisitHandler
{
    public function __construct(private readonly LoggerInterface $logger, private readonly string $logDir)
    {
    }

    public function __invoke(RecordVisit $visit): void
    {
        if ($visit->visitor === 'crash') {
            throw new \RuntimeException('cannot record a visit for "crash"');
        }
        is_dir($this->logDir) || mkdir($this->logDir, 0777, true);
        file_put_contents($this->logDir.'/visits.log', $visit->visitor."\n", FILE_APPEND);
        $this->logger->notice('visit recorded', ['visitor' => $visit->visitor]);
    }
}
