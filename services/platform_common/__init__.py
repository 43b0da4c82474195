"""Shared library for the platform's services: settings, JSON logging, AWS clients, secrets, backoff, redaction."""
