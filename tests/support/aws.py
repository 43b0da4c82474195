"""The recording, fault-injecting AWS proxy for tests; it lives in devtools/ because bench/ uses it too."""

from devtools.aws_proxy import AwsProxy, classify

__all__ = ["AwsProxy", "classify"]
