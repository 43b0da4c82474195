"""Helpers shared by the test packages (issue 14): one AWS proxy, env presets, factories. Not fixtures."""
