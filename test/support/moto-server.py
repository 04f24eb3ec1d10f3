"""moto's server (python3 -m moto.server) with three of its gaps closed, for test/e2e/deploy.test.ts.

Each patch makes moto do what AWS does, so that the deploy under test runs as it would on AWS; the
product never works around moto.
"""

import json
import os
import subprocess
import sys
import tempfile

from moto.awslambda.models import LambdaFunction, lambda_backends
from moto.cloudformation import models as cloudformation
from moto.server import main

lint = cloudformation.validate_template_cfn_lint


def lint_errors_only(template):
    # moto's ValidateTemplate fails on every cfn-lint finding, warnings included: W3005 flags the
    # DependsOn the framework adds beside a Ref (HttpApiRouteDefault on its integration). AWS accepts it.
    return [match for match in lint(template) if match.rule.id.startswith("E")]


cloudformation.validate_template_cfn_lint = lint_errors_only

create_function = LambdaFunction.create_from_cloudformation_json.__func__


def create_function_keeping_layers(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
    # moto creates an AWS::Lambda::Function without its Layers and Architectures (its updates keep
    # them). AWS keeps both, and refuses a layer version that does not exist, as moto does here.
    fn = create_function(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
    properties = cloudformation_json["Properties"]
    fn.layers = fn._get_layers_data(properties.get("Layers", []))
    fn.architectures = properties.get("Architectures", ["x86_64"])
    return fn


LambdaFunction.create_from_cloudformation_json = classmethod(create_function_keeping_layers)



def invoke_without_docker(self, event=None):
    # moto runs a function in Docker, which is not here: the command in FPM_BRIDGE_TEST_INVOKE
    # (test/support/lambda-invoke.ts) runs the code and layers moto holds in a bubblewrap sandbox instead.
    # The log goes to the function's log group as moto's own invoke sends it (`serverless logs` reads it).
    self.logs_backend.ensure_log_group(self.logs_group_name)
    backend = lambda_backends[self.account_id][self.region]
    with tempfile.TemporaryDirectory(prefix="fpm-bridge-moto-invoke-") as work:
        code = os.path.join(work, "function.zip")
        with open(code, "wb") as f:
            f.write(self.code_bytes)
        layers = []
        for i, layer in enumerate(self.layers):
            path = os.path.join(work, f"layer-{i}.zip")
            with open(path, "wb") as f:
                f.write(backend.layers_versions_by_arn(layer["Arn"]).code_bytes)
            layers.append(path)
        request = {
            "name": self.function_name,
            "arn": self.function_arn,
            "handler": self.handler,
            "memoryMb": int(self.memory_size),
            "timeoutS": int(self.timeout),
            "environment": dict(self.environment_vars),
            "code": code,
            "layers": layers,
            "event": {} if event is None else event,
        }
        done = subprocess.run(
            os.environ["FPM_BRIDGE_TEST_INVOKE"],
            shell=True,
            input=json.dumps(request),
            capture_output=True,
            text=True,
        )
    if done.returncode != 0:
        output = {"errorType": "Runtime.ExitError", "errorMessage": done.stderr, "log": done.stderr}
    else:
        output = json.loads(done.stdout)
    log = output.pop("log")
    self.save_logs(log)
    if "result" in output:
        return json.dumps(output["result"]), False, log
    return json.dumps(output), True, log


if "FPM_BRIDGE_TEST_INVOKE" in os.environ:
    LambdaFunction._invoke_lambda = invoke_without_docker

main(sys.argv[1:])
