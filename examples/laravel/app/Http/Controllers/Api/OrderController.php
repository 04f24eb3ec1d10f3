<?php

namespace App\Http\Controllers\Api;

use Illuminate\Http\JsonResponse;
use Illuminate\Http\Request;

class OrderController
{
    /** A JSON API: 201 with the order, or 422 with Laravel's validation errors. */
    public function store(Request $request): JsonResponse
    {
        $order = $request->validate([
            'item' => 'required|string|max:40',
            'quantity' => 'required|integer|min:1|max:99',
        ]);

        return new JsonResponse(['ordered' => $order], 201);
    }
}
