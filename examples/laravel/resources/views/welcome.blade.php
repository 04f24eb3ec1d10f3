@extends('layout')

@section('title', 'Welcome')

@section('content')
    <h1>Laravel behind fpm-bridge</h1>
    <ul>
        <li><a href="{{ route('hello', ['name' => 'Zoë']) }}">Say hello</a></li>
        <li><a href="{{ route('notes') }}">Notes</a> (a form with a session and CSRF token)</li>
        <li><a href="{{ url('/request') }}?q=fpm-bridge">The request as Laravel sees it</a></li>
    </ul>
@endsection
