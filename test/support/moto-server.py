"""moto's server (python3 -m moto.server) with two of its gaps closed, for test/e2e/deploy.test.ts.

Each patch makes moto do what AWS does, so that the deploy under test runs as it would on AWS; the
product never works around moto.
"""

import sys

from moto.awslambda.models import LambdaFunction
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

main(sys.argv[1:])
