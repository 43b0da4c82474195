"""Patches that add AWS calls stock moto lacks. Each module defines ``apply()``; devtools.moto_launcher runs all.

Keep each patch small and named after the gap it closes (see ../shared/ENVIRONMENT.md for the measured gaps).
"""
