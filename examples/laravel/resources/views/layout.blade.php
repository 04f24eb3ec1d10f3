<!doctype html>
<html lang="en">
<head>
    <meta charset="utf-8">
    <title>@yield('title') · {{ config('app.name') }}</title>
</head>
<body>
<main>
    @yield('content')
</main>
<footer>Laravel {{ app()->version() }} on PHP {{ PHP_VERSION }}</footer>
</body>
</html>
