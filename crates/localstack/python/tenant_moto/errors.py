"""Errors in the shapes AWS clients parse."""

from __future__ import annotations

import json
import uuid
from xml.sax.saxutils import escape

from moto.core.exceptions import JsonRESTError
from werkzeug.exceptions import HTTPException


class InvalidParameterException(JsonRESTError):
    def __init__(self, message: str):
        super().__init__("InvalidParameterException", message)


class ResourceNotFoundException(JsonRESTError):
    def __init__(self, message: str):
        super().__init__("ResourceNotFoundException", message)


class NotAuthorizedException(JsonRESTError):
    def __init__(self, message: str):
        super().__init__("NotAuthorizedException", message)


class UserLambdaValidationException(JsonRESTError):
    """A user-pool trigger failed or answered something Cognito cannot use."""

    def __init__(self, message: str):
        super().__init__("UserLambdaValidationException", message)


class InvalidIdentityPoolConfigurationException(JsonRESTError):
    def __init__(
        self,
        message: str = "Invalid identity pool configuration. Check assigned IAM roles for this pool.",
    ):
        super().__init__("InvalidIdentityPoolConfigurationException", message)


class JsonAccessDenied(HTTPException):
    """AccessDeniedException for JSON-protocol services (body carries __type and Message)."""

    def __init__(self, message: str, error_type: str = "AccessDeniedException", status: int = 400):
        super().__init__()
        self.code = status
        self.error_type = error_type
        self.message = message
        self.description = json.dumps({"__type": error_type, "Message": message})

    def get_headers(self, *args, **kwargs):  # type: ignore[override]
        return [
            ("Content-Type", "application/x-amz-json-1.1"),
            ("X-Amzn-ErrorType", self.error_type),
        ]


class QueryAccessDenied(HTTPException):
    """AccessDenied for query/XML services (IAM, STS), in their shape:
    ErrorResponse/Error/Code with the request id beside the Error. (The EC2 shape,
    ErrorResponse/Errors/Error, is not what the AWS SDKs' awsQuery parsers read: the Rust
    SDK then reports an unhandled error with no code.)"""

    code = 403

    def __init__(self, message: str, error_type: str = "AccessDenied"):
        super().__init__()
        self.error_type = error_type
        self.message = message
        self.description = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            "<ErrorResponse><Error><Type>Sender</Type>"
            f"<Code>{escape(error_type)}</Code><Message>{escape(message)}</Message>"
            f"</Error><RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
        )

    def get_headers(self, *args, **kwargs):  # type: ignore[override]
        return [("Content-Type", "text/xml")]
