"""ECS tasks stay RUNNING until StopTask (stock moto walks a task to STOPPED one step per DescribeTasks call).

The local Fargate runner (devtools/fargate) owns the task lifecycle, like Fargate does: a task stops when the runner
calls StopTask, not when somebody looks at it.
"""

from __future__ import annotations


def apply() -> None:
    from moto.moto_api import state_manager

    state_manager.set_transition(
        model_name="ecs::task", transition={"progression": "manual", "times": 10**12}
    )
