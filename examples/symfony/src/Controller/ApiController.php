<?php

namespace App\Controller;

use App\Api\OrderRequest;
use Symfony\Bundle\FrameworkBundle\Controller\AbstractController;
use Symfony\Component\HttpFoundation\File\UploadedFile;
use Symfony\Component\HttpFoundation\JsonResponse;
use Symfony\Component\HttpFoundation\Request;
use Symfony\Component\HttpKernel\Attribute\MapRequestPayload;
use Symfony\Component\HttpKernel\Exception\UnprocessableEntityHttpException;
use Symfony\Component\Routing\Attribute\Route;

#[Route('/api')]
final class ApiController extends AbstractController
{
    /** A JSON API: 201 with the order, or 422 with the validator's violations (application/problem+json). */
    #[Route('/orders', methods: ['POST'])]
    public function order(#[MapRequestPayload] OrderRequest $order): JsonResponse
    {
        return $this->json(['ordered' => $order], 201);
    }

    /** A multipart upload: what arrived, and the SHA-256 of its bytes. */
    #[Route('/uploads', methods: ['POST'])]
    public function upload(Request $request): JsonResponse
    {
        $file = $request->files->get('document');
        if (!$file instanceof UploadedFile || !$file->isValid()) {
            throw new UnprocessableEntityHttpException('the form has no valid "document" file');
        }

        return $this->json([
            'name' => $file->getClientOriginalName(),
            'type' => $file->getClientMimeType(),
            'size' => $file->getSize(),
            'sha256' => hash_file('sha256', $file->getPathname()),
            'comment' => $request->request->get('comment'),
        ]);
    }
}
