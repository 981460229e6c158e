"""What callers read from a task class instead of keeping lists of task names."""

from __future__ import annotations

import pytest

from img2img.tasks import DEMO_TABS, EVALUATIONS, TASKS


@pytest.mark.parametrize("name", sorted(TASKS))
def test_a_task_names_its_evaluation_protocol_and_demo_tab(name: str) -> None:
    task = TASKS[name]
    assert task.evaluation in EVALUATIONS and task.demo_tab in DEMO_TABS
    # A two-way model's directions are its generator's keys (catalog and eval use them).
    if hasattr(task, "directions"):
        assert tuple(task.build_generator(task.Config())) == tuple(task.directions)
