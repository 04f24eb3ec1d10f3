@extends('layout')

@section('title', 'Hello')

@section('content')
    <h1>Hello, {{ $name }}!</h1>
@endsection
