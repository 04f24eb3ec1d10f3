<?php

namespace App\Message;

/** A message for the "async" transport: the SQS queue on Lambda, handled at once locally. */
final class RecordVisit
{
    public function __construct(public readonly string $visitor)
    {
    }
}
