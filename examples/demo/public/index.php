<?php
// The demo app fpm-bridge's README starts: a front controller that shows what PHP received.
header('Content-Type: text/html; charset=utf-8');
$path = parse_url($_SERVER['REQUEST_URI'], PHP_URL_PATH);
?>
<!doctype html>
<title>fpm-bridge demo</title>
<h1>Hello from PHP <?= htmlspecialchars(PHP_VERSION) ?> behind fpm-bridge</h1>
<p>You asked for <code><?= htmlspecialchars($path) ?></code>
   with <code><?= htmlspecialchars($_SERVER['REQUEST_METHOD']) ?></code>.</p>
<p>Script: <code><?= htmlspecialchars($_SERVER['SCRIPT_NAME']) ?></code>,
   served by <code><?= htmlspecialchars($_SERVER['SERVER_SOFTWARE']) ?></code>.</p>
<form method="post" action="/echo"><input name="message" value="hi"> <button>POST it</button></form>
<?php if ($_SERVER['REQUEST_METHOD'] === 'POST'): ?>
<p>You posted: <code><?= htmlspecialchars($_POST['message'] ?? '') ?></code></p>
<?php endif; ?>
<p><a href="/info.php/some/path?x=1">A direct script with PATH_INFO</a> · <a href="/style.css">a static file</a></p>
