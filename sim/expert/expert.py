"""The scripted expert: runs the skill the env's task planner asks for with the matching
controller, and turns controller commands into normalised actions. Optional DART-style noise
perturbs the executed action while the label stays the clean expert action, so that datasets
contain off-nominal states and the expert's recovery from them."""

from __future__ import annotations

import dataclasses

import numpy as np

from sim import robot as R
from sim.expert.controllers import Command, Skills
from sim.skills import Skill


# Skills that work with the arm at a work pose; the base holds that pose meanwhile.
ARM_SKILLS = (Skill.PICK, Skill.PLACE, Skill.OPEN, Skill.CLOSE)


@dataclasses.dataclass(frozen=True)
class ExpertConfig:
    noise_std: float = 0.0  # std of Gaussian noise added to the executed normalised action
    noise_seed: int = 0


class Expert:
    """Drives a RearrangeEnv (needs privileged access: `env.unwrapped`)."""

    def __init__(self, config: ExpertConfig = ExpertConfig()):
        self.config = config
        self._skills: Skills | None = None
        self._world = None
        self.rng = np.random.default_rng(config.noise_seed)

    def reset(self, env) -> None:
        env = env.unwrapped
        self._skills = Skills(env)
        self._world = env.world
        self.rng = np.random.default_rng([self.config.noise_seed, env.episode_seed])

    def command(self, env) -> Command:
        """The controller command for the skill the env's task planner asks for now; a function
        of the state (the controllers keep no phase)."""
        env = env.unwrapped
        if self._skills is None or self._world is not env.world:
            self.reset(env)
        plan, sk = env.plan, self._skills
        call, t = plan.call, env.scene.task
        if call.skill == Skill.NAVIGATE:
            carrying = t.target if env.planner.carrying(env.world, env.world.held_objects()) else None
            cmd = sk.navigate_step(plan.pose, carrying)
        elif call.skill == Skill.PICK:
            cmd = sk.pick(call.target, env.planner.location(env.world, call.target))
        elif call.skill == Skill.PLACE:
            cmd = sk.place(call.target, call.receptacle, t.goal_local)
        elif call.skill in (Skill.OPEN, Skill.CLOSE):
            cmd = sk.articulate(call.target, opening=call.skill == Skill.OPEN)
        else:
            return sk.hold()  # stop / reset_arm: hold still
        if call.skill in ARM_SKILLS and plan.pose is not None:
            cmd.forward, cmd.yaw_rate = sk.station(plan.pose)
        return cmd

    def act(self, env) -> tuple[np.ndarray, np.ndarray]:
        """(label, executed): the clean expert action and the (possibly noisy) one to step."""
        env = env.unwrapped
        label = encode(self.command(env), env.world)
        executed = label
        if self.config.noise_std > 0:
            executed = np.clip(label + self.rng.normal(0, self.config.noise_std, label.shape), -1, 1)
            executed = executed.astype(np.float32)
        return label, executed


def encode(cmd: Command, world) -> np.ndarray:
    """Command (absolute targets, velocities) -> normalised action in [-1, 1]^8."""
    a = np.zeros(R.ACTION.dim, dtype=np.float64)
    a[0] = cmd.forward / R.ACTION.max_forward
    a[1] = cmd.yaw_rate / R.ACTION.max_yaw_rate
    a[2:7] = (np.clip(cmd.arm_q, world.arm_lo, world.arm_hi) - world.arm_target) / R.ACTION.arm_step
    a[7] = 1.0 - 2.0 * cmd.finger / R.FINGER_RANGE[1]
    return np.clip(a, -1.0, 1.0).astype(np.float32)
