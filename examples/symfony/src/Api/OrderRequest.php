<?php

namespace App\Api;

use Symfony\Component\Validator\Constraints as Assert;

/** The body of POST /api/orders, mapped and validated by #[MapRequestPayload]. */
final class OrderRequest
{
    public function __construct(
        #[Assert\NotBlank]
        #[Assert\Length(max: 40)]
        public readonly string $item = '',
        #[Assert\Positive]
        #[Assert\LessThan(100)]
        public readonly int $quantity = 0,
    ) {
    }
}
