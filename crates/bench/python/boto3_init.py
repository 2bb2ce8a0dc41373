# What a Python Lambda does before its first poll: create the same seven clients the
# Rust functions build (tenant_steps::aws::Clients), then ask the Runtime API for work.
import os
import urllib.request

import boto3

session = boto3.session.Session()
clients = [
    session.client(name)
    for name in ("iam", "cognito-idp", "cognito-identity", "dynamodb", "secretsmanager", "s3", "stepfunctions")
]
api = os.environ["AWS_LAMBDA_RUNTIME_API"]
urllib.request.urlopen(f"http://{api}/2018-06-01/runtime/invocation/next")
