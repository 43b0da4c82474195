"""``[core] hostname_callable`` of the platform image (the entrypoint puts this dir on PYTHONPATH).

``task_instance.hostname`` and the Celery node name are the worker's identity. By default that is the host's FQDN
(on Fargate the task ENI's DNS name, which the scaler maps to the ECS task). ``AIRFLOW_WORKER_HOST`` overrides it,
e.g. the local stand-in for Fargate names each worker after its emulated ECS task id, because local workers share
one host. See docs/adr/0008-local-stack-and-config.md.
"""

from __future__ import annotations

import os
import socket


def get_hostname() -> str:
    return os.environ.get("AIRFLOW_WORKER_HOST") or socket.getfqdn()
