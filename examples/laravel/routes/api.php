<?php

use App\Http\Controllers\Api\OrderController;
use App\Http\Controllers\Api\UploadController;
use Illuminate\Support\Facades\Route;

// Under /api, without sessions or CSRF (the "api" middleware group).
Route::post('/orders', [OrderController::class, 'store']);
Route::post('/uploads', [UploadController::class, 'store']);
