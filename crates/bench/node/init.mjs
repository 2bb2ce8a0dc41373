// What a Node.js Lambda on the AWS SDK v3 does before its first poll: load and create the
// same seven clients the Rust functions build (tenant_steps::aws::Clients), then ask the
// Runtime API for work. Run with this directory's node_modules (`npm ci`).
import http from "node:http";

import { IAMClient } from "@aws-sdk/client-iam";
import { CognitoIdentityProviderClient } from "@aws-sdk/client-cognito-identity-provider";
import { CognitoIdentityClient } from "@aws-sdk/client-cognito-identity";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { S3Client } from "@aws-sdk/client-s3";
import { SFNClient } from "@aws-sdk/client-sfn";

export const clients = [
  new IAMClient({}),
  new CognitoIdentityProviderClient({}),
  new CognitoIdentityClient({}),
  new DynamoDBClient({}),
  new SecretsManagerClient({}),
  new S3Client({}),
  new SFNClient({}),
];

http.get(`http://${process.env.AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation/next`);
