@extends('layout')

@section('title', 'Notes')

@section('content')
    <h1>Notes</h1>
    @if (session('status'))
        <p class="status">{{ session('status') }}</p>
    @endif
    @error('text')
        <p class="error">{{ $message }}</p>
    @enderror
    <ol>
        @foreach ($notes as $note)
            <li>{{ $note }}</li>
        @endforeach
    </ol>
    <form method="post" action="{{ url('/notes') }}">
        @csrf
        <input name="text" value="{{ old('text') }}">
        <button>Save</button>
    </form>
@endsection
