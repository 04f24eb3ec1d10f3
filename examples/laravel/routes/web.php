<?php

use App\Http\Controllers\NoteController;
use App\Http\Controllers\RequestController;
use Illuminate\Http\Request;
use Illuminate\Support\Facades\Route;

Route::view('/', 'welcome')->name('home');

// A route parameter, in any script: /hello/Zoë (sent as /hello/Zo%C3%AB).
Route::get('/hello/{name}', fn (string $name) => view('hello', ['name' => $name]))->name('hello');

// An old address: 302 to the new one, the parameter carried over.
Route::redirect('/hi/{name}', '/hello/{name}');

// What Laravel makes of the request: path, query, scheme, host, port and client.
Route::get('/request/{path?}', RequestController::class)->where('path', '.*');

// A cookie set by one request and read by the next (encrypted by the EncryptCookies middleware).
Route::get('/flavour', fn (Request $request) => ['flavour' => $request->cookie('flavour')]);
Route::get('/flavour/{flavour}', fn (string $flavour) => response(['set' => $flavour])->cookie('flavour', $flavour, 60));

// A form with the session's CSRF token; a POST without it gets 419.
Route::get('/notes', [NoteController::class, 'index'])->name('notes');
Route::post('/notes', [NoteController::class, 'store']);

// An uncaught exception: with APP_DEBUG=false the client gets Laravel's plain 500 page, the log the trace.
Route::get('/boom', function () {
    throw new RuntimeException('the example app failed on purpose');
});
