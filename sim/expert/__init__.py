"""The scripted expert: a task planner over the symbolic state and skill controllers."""

from sim.expert.expert import Expert, ExpertConfig
from sim.expert.task_planner import PlanStep, TaskPlanner

__all__ = ["Expert", "ExpertConfig", "PlanStep", "TaskPlanner"]
