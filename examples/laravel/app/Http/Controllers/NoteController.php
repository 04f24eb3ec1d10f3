<?php

namespace App\Http\Controllers;

use Illuminate\Http\RedirectResponse;
use Illuminate\Http\Request;
use Illuminate\View\View;

/** Notes kept in the session: a form, its CSRF token, a redirect after the POST and a flashed message. */
class NoteController
{
    public function index(Request $request): View
    {
        return view('notes', ['notes' => $request->session()->get('notes', [])]);
    }

    public function store(Request $request): RedirectResponse
    {
        $note = $request->validate(['text' => 'required|string|max:200'])['text'];
        $request->session()->push('notes', $note);

        return redirect()->route('notes')->with('status', 'Note saved.');
    }
}
