"""Patches that add AWS calls stock moto lacks. Each module defines ``apply()``; devtools.moto_launcher runs all.

Keep each patch small and named after the gap it closes; its docstring says what stock moto does instead.
"""
