"""The whole platform as supervised local processes (make local). See docs/adr/0008-local-stack-and-config.md."""
