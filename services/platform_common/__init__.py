"""Shared library for the platform's services: settings, JSON logging, AWS clients, backoff, redaction."""
