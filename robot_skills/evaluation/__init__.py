"""Closed-loop evaluation: N envs stepped together with one batched policy call per control step,
per-episode rows (seed, success, stages, per-skill success, skill accuracy) and their summary."""

from robot_skills.evaluation.agents import ExpertPolicy
from robot_skills.evaluation.rollout import EpisodeTrace, run_episodes
from robot_skills.evaluation.report import SKILL_STAGES, episode_row, summarise

__all__ = ["ExpertPolicy", "EpisodeTrace", "run_episodes", "SKILL_STAGES", "episode_row",
           "summarise"]
