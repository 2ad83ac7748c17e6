"""Gymnasium environment: one registered id per task (`robot_skills/RearrangeHard-v0`, ...).

Observation: {"state": float32 vector (see sim.observation.STATE_LAYOUT; with receptacle_slots
it ends in one slot per receptacle kind, SLOT_LAYOUT)} plus "depth"/"rgb" head-camera images
when enabled. Action: Box([-1, 1]^8) (see sim.robot.ActionSpec).
`info` carries the latched stage flags ("stage/<name>"), "success", "failure" (a name from
sim.tasks.FAILURES or ""), the expert's skill for this state and the episode seed.
"""

from __future__ import annotations

import dataclasses

import gymnasium as gym
import mujoco
import numpy as np

from sim import robot as R
from sim.expert.task_planner import PlanStep, TaskPlanner
# STATE_DIM stays importable from sim.env (its observation space's width without slots)
from sim.observation import STATE_DIM, Observer, Routes, spot_world, state_width  # noqa: F401
from sim.scene import (MULTI_MOVE_TASKS, SPLIT_SIZE, InfeasibleScene, SceneConfig, sample_scene,
                       split_seed)
from sim.skills import SKILL_NAMES
from sim.state import World
from sim.tasks import RearrangeTask, check_task
from sim.world import PhysicsConfig

ENV_IDS = {
    "navigate": "robot_skills/Navigate-v0", "pick": "robot_skills/Pick-v0",
    "place": "robot_skills/Place-v0", "open": "robot_skills/Open-v0",
    "close": "robot_skills/Close-v0", "rearrange_easy": "robot_skills/RearrangeEasy-v0",
    "rearrange_hard": "robot_skills/RearrangeHard-v0",
    "rearrange_two": "robot_skills/RearrangeTwo-v0",
}
SETTLE_SECONDS = 0.3
SETTLE_MAX_DRIFT = 0.01  # m an object may move while the scene settles


@dataclasses.dataclass(frozen=True)
class EnvConfig:
    task: str = "rearrange_hard"
    split: str = "train"
    cameras: tuple[str, ...] = ()
    camera_size: int = 64
    # The state ends in one slot per receptacle kind (sim.observation.SLOT_LAYOUT): what a
    # policy reads when the goal fields are hidden from it and the instruction names the goal.
    receptacle_slots: bool = False
    scene: SceneConfig = SceneConfig()
    physics: PhysicsConfig = PhysicsConfig()


class RearrangeEnv(gym.Env):
    """A mobile manipulator in a procedurally generated room doing one task."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(self, task: str = "rearrange_hard", split: str = "train", cameras=(),
                 camera_size: int = 64, render_mode: str | None = "rgb_array",
                 config: EnvConfig | None = None, receptacle_slots: bool = False):
        cfg = config or EnvConfig(task=task, split=split, cameras=tuple(cameras),
                                  camera_size=camera_size, receptacle_slots=receptacle_slots)
        check_task(cfg.task)
        split_seed(cfg.split, 0)  # validates the split name
        for c in cfg.cameras:
            if c not in ("depth", "rgb"):
                raise ValueError(f"unknown camera stream {c!r}; use 'depth' and/or 'rgb'")
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode {render_mode!r} is not supported; use 'rgb_array'")
        self.config = cfg
        self.render_mode = render_mode
        self.metadata = dict(self.metadata, render_fps=int(cfg.physics.control_hz))
        dim = state_width(cfg.receptacle_slots, cfg.task in MULTI_MOVE_TASKS)
        spaces = {"state": gym.spaces.Box(-np.inf, np.inf, (dim,), np.float32)}
        n = cfg.camera_size
        if "depth" in cfg.cameras:
            spaces["depth"] = gym.spaces.Box(0.0, 10.0, (n, n, 1), np.float32)
        if "rgb" in cfg.cameras:
            spaces["rgb"] = gym.spaces.Box(0, 255, (n, n, 3), np.uint8)
        self.observation_space = gym.spaces.Dict(spaces)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (R.ACTION.dim,), np.float32)
        self.world: World | None = None
        self.task: RearrangeTask | None = None
        self.observer: Observer | None = None
        self.planner: TaskPlanner | None = None
        self.plan: PlanStep | None = None
        self.episode_seed = -1
        self._renderer = None
        self._step = 0
        self._done = True
        self._last_obs = None

    # ---------------------------------------------------------------- episode
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        options = options or {}
        if "episode_seed" in options:
            ep = int(options["episode_seed"])
        elif seed is not None:
            ep = split_seed(self.config.split, int(seed) % SPLIT_SIZE)
        else:
            ep = split_seed(self.config.split, int(self.np_random.integers(SPLIT_SIZE)))
        self._load(ep)
        self._step = 0
        self._done = False
        report = self.task.evaluate(self.world, 0)
        self._latched = dict(report.stages)
        self.plan = self.planner.step(self.world, report.held)
        obs = self._obs(report)
        return obs, self._info(report)

    def _load(self, episode_seed: int) -> None:
        self.close()
        cache = {}

        def validate(scene):
            world = World(scene, self.config.physics)
            world.reset_state()
            task = RearrangeTask(scene)
            task.initialize(world)
            start = {o.name: world.object_pos(o.name) for o in scene.objects}
            mujoco.mj_step(world.model, world.data, nstep=int(SETTLE_SECONDS / world.model.opt.timestep))
            for name, p in start.items():
                if np.linalg.norm(world.object_pos(name) - p) > SETTLE_MAX_DRIFT or world.unstable():
                    raise InfeasibleScene(f"{name} does not rest where it was placed")
            if task.name == "place" and scene.task.target not in world.held_objects():
                raise InfeasibleScene("object did not stay in the gripper")
            if world.base_collision():
                raise InfeasibleScene("robot starts in collision")
            task.set_rest_heights(world)
            cache["world"], cache["task"] = world, task

        scene = sample_scene(episode_seed, self.config.task, self.config.scene, validate=validate)
        self.episode_seed = episode_seed
        self.scene = scene
        self.world, self.task = cache["world"], cache["task"]
        self.observer = Observer(self.world, self.config.cameras, self.config.camera_size,
                                 receptacle_slots=self.config.receptacle_slots,
                                 moves=self.config.task in MULTI_MOVE_TASKS)
        self.planner = TaskPlanner(scene)

    @property
    def episode_scene(self):
        """The scene as sampled at reset (a multi-move task's first move; `scene` follows the
        move under way): what an episode's instruction and metadata describe."""
        return self.world.scene

    @property
    def move(self) -> int:
        """Index of the move under way (multi-move tasks; 0 otherwise)."""
        return self.task.move if self.task is not None else 0

    def _next_move(self) -> None:
        """A multi-move task finished a move: the scene, the route observation and the task
        planner now describe the next one (the world and the physics carry on)."""
        self.scene = self.episode_scene.at_move(self.task.move)
        self.observer.set_routes(Routes(self.scene, self.config.receptacle_slots))
        self.planner = TaskPlanner(self.scene)

    def step(self, action):
        if self._done:
            raise RuntimeError("step() called on a finished episode; call reset() first")
        a = np.asarray(action, dtype=np.float64).reshape(-1)
        if a.shape != (R.ACTION.dim,):
            raise ValueError(f"action must have shape ({R.ACTION.dim},), got {a.shape}")
        if not np.all(np.isfinite(a)):
            raise ValueError(f"action contains NaN or inf: {a}; the policy produced an invalid "
                             "action (check its outputs and normalisation)")
        a = np.clip(a, -1.0, 1.0)
        w = self.world
        w.arm_target = np.clip(w.arm_target + a[2:7] * R.ACTION.arm_step, w.arm_lo, w.arm_hi)
        w.finger_target = float((1.0 - a[7]) / 2.0 * R.FINGER_RANGE[1])
        w.apply_targets()
        w.step_physics(a[0] * R.ACTION.max_forward, a[1] * R.ACTION.max_yaw_rate)
        self._step += 1
        report = self.task.evaluate(w, self._step)
        if self.task.spec != self.scene.task:  # the task moved on to its next move
            self._next_move()
        prev = sum(self._latched.values())
        reward = float(sum(report.stages.values()) - prev) + float(report.success)
        self._latched = dict(report.stages)
        terminated = bool(report.success or report.failure not in ("", "timeout"))
        truncated = bool(report.failure == "timeout")
        self._done = terminated or truncated
        if report.failure != "unstable_sim":
            self.plan = self.planner.step(w, report.held)
        obs = self._obs(report)
        return obs, reward, terminated, truncated, self._info(report)

    # ---------------------------------------------------------------- views
    def goal_world(self) -> np.ndarray:
        t = self.scene.task
        if t.task == "navigate":
            r = self.scene.receptacle(t.nav_target)
            return np.array([r.x, r.y, r.kind.surface_z])
        return spot_world(self.world, t.goal, t.goal_local)

    def _obs(self, report):
        if report.failure == "unstable_sim" and self._last_obs is not None:
            return self._last_obs  # physics blew up: hand back the last finite observation
        obs = {"state": self.observer.state(self.task, report.held, self.goal_world())}
        obs.update(self.observer.images())
        self._last_obs = obs
        return obs

    def _info(self, report) -> dict:
        info = {f"stage/{k}": bool(v) for k, v in report.stages.items()}
        info.update(success=bool(report.success), failure=report.failure,
                    expert_skill=int(self.plan.call.skill) if self.plan else -1,
                    expert_skill_name=SKILL_NAMES[self.plan.call.skill] if self.plan else "",
                    expert_call=self.plan.call.text() if self.plan else "",
                    episode_seed=self.episode_seed, step=self._step)
        return info

    def render(self):
        if self.world is None:
            raise RuntimeError("render() before reset()")
        cfg = self.config.physics
        if self._renderer is None:
            self._renderer = mujoco.Renderer(self.world.model, cfg.render_height, cfg.render_width)
        self._renderer.update_scene(self.world.data, "overview")
        return self._renderer.render().copy()

    def close(self):
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None
        if self.observer is not None:
            self.observer.close()
            self.observer = None


def make_env(task: str = "rearrange_hard", split: str = "train", **kwargs) -> RearrangeEnv:
    return RearrangeEnv(task=task, split=split, **kwargs)


def register_envs() -> None:
    for task, env_id in ENV_IDS.items():
        if env_id not in gym.registry:
            gym.register(id=env_id, entry_point="sim.env:RearrangeEnv", kwargs={"task": task},
                         max_episode_steps=None, disable_env_checker=True)
