// Values serverless.yml takes for `--stage local` (serverless-offline), where the function runs from this
// checkout instead of /var/task. A CommonJS file because the framework loads `${file(...)}` JS with require().
const { join } = require('node:path');

module.exports = {
  // serverless-offline sets LAMBDA_TASK_ROOT=/var/task, against which a relative docroot would resolve: give
  // the checkout's absolute path.
  docroot: join(__dirname, '..', 'examples', 'demo', 'public'),
};
