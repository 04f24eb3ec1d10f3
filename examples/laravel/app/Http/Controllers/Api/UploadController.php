<?php

namespace App\Http\Controllers\Api;

use Illuminate\Http\Request;

class UploadController
{
    /** A multipart upload: what arrived, and the SHA-256 of its bytes. */
    public function store(Request $request): array
    {
        $request->validate(['document' => 'required|file|max:2048']);
        $file = $request->file('document');

        return [
            'name' => $file->getClientOriginalName(),
            'type' => $file->getClientMimeType(),
            'size' => $file->getSize(),
            'sha256' => hash_file('sha256', $file->getRealPath()),
            'comment' => $request->input('comment'),
        ];
    }
}
