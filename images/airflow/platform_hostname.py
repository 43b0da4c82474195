"""``[core] hostname_callable`` of the platform image (the entrypoint puts this dir on PYTHONPATH).

``task_instance.hostname`` and the Celery node name are the worker's identity: ``AIRFLOW_WORKER_HOST`` if set, else
the container's ``HOSTNAME`` (on Fargate the task ENI's DNS name, which the scaler maps to the ECS task; the local
Fargate runner sets the emulated ENI's name, because local tasks share one host), else the host's FQDN. The
entrypoint names the Celery node the same way. See docs/adr/0008-local-stack-and-config.md.
"""

from __future__ import annotations

import os
import socket


def get_hostname() -> str:
    return os.environ.get("AIRFLOW_WORKER_HOST") or os.environ.get("HOSTNAME") or socket.getfqdn()
