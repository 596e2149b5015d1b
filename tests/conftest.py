"""Root test configuration: fake credentials and a test resource prefix, set before any app import.

Nothing here may reach a real AWS account: credentials are fake and every endpoint used by the tests
is a moto server on loopback (integration, e2e) or moto's in-process mock (unit).
"""

import os

os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SECURITY_TOKEN": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "DEPLOYD_RESOURCE_PREFIX": "deployd-test",
        "DEPLOYD_ADMIN_TOKEN": "test-admin-token",
    }
)
os.environ.pop("AWS_PROFILE", None)
os.environ.pop("AWS_ENDPOINT_URL", None)

# Fixtures every suite may use (log_lines: the Powertools Logger's lines as dicts).
pytest_plugins = ["tests.log_capture"]
