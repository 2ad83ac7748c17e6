"""The batched closed-loop rollout: K envs, one `policy.act` per control step for all of them.

Episode i of the run is `split_seed(split, start + i)`. Envs take the next unassigned episode
in index order as soon as they finish one, so assignment (and the numbers) depend only on the
seeds, the policy and K. When no episode is left a slot idles: it repeats its last observation
and its output is ignored. Every env's row of a batched step is independent of the others, so
an episode's numbers do not depend on which episodes share its batch (tested for 1 vs 2 envs);
train/eval_workers.py splits the seeds over processes on that basis.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence

import numpy as np
from tqdm import tqdm

from sim.disturbances import APPLIED_AT


@dataclasses.dataclass
class EpisodeTrace:
    """One evaluated episode as the loop saw it."""

    index: int  # position in the run (0 = first seed)
    seed: int
    success: bool
    failure: str
    length: int
    stages: dict[str, bool]
    predicted_skills: list[int]  # per step, the policy's skill for o_t
    expert_skills: list[int]  # per step, the env's expert label for the same state
    wall_time_s: float
    frames: list[np.ndarray] | None = None  # env.render() per step (recorded episodes only)
    disturbed_at: int | None = None  # control step of the disturbance (sim.disturbances), if any
    files: dict[str, str] = dataclasses.field(default_factory=dict)  # media written for it
    # An LCB agent's language for the episode: instruction, plan, plan_exact (the decoded plan
    # equals the ground truth; None without a planner); None for other policies.
    language: dict | None = None
    # sim.observation.Routes.detour of the scene from the start pose: how far the task's routes
    # bend around walls and furniture (None for an env without route fields).
    route_detour: float | None = None


class SuccessBar:
    """tqdm over episodes with the running success in its postfix."""

    def __init__(self, total: int, desc: str, disable: bool = False):
        self.bar = tqdm(total=total, desc=desc, disable=disable, dynamic_ncols=True, unit="ep")
        self.done = self.successes = 0

    def add(self, success: bool) -> None:
        self.done += 1
        self.successes += bool(success)
        self.bar.update(1)
        self.bar.set_postfix(success=f"{self.successes}/{self.done} "
                                     f"({self.successes / self.done:.0%})")

    def close(self) -> None:
        self.bar.close()


def route_detour(env) -> float | None:
    """The env's scene's route detour (sim.observation.Routes.detour) from the base pose it was
    just reset to; None for an env without route fields."""
    u = getattr(env, "unwrapped", env)
    observer, world = getattr(u, "observer", None), getattr(u, "world", None)
    if observer is None or world is None or getattr(observer, "routes", None) is None:
        return None
    return float(observer.routes.detour(world.base_pose()[:2]))


def run_episodes(envs: Sequence, policy, seeds: Sequence[int], *, record: Sequence[int] = (),
                 progress: bool = True, desc: str = "eval",
                 on_episode: Callable[[EpisodeTrace], None] | None = None) -> list[EpisodeTrace]:
    """Runs every seed once with `len(envs)` envs stepped together; returns traces in seed order.
    policy: a robot_skills Policy (batch_size == len(envs)) or an ExpertPolicy over `envs`.
    record: indices into `seeds` whose frames are rendered (for videos)."""
    K = len(envs)
    if policy.batch_size != K:
        raise ValueError(f"policy steps {policy.batch_size} envs, but {K} envs were given")
    record = set(record)
    queue = list(range(len(seeds)))[::-1]  # pop() gives index order
    slot_ep: list[int | None] = [None] * K
    obs: list[dict | None] = [None] * K
    info: list[dict | None] = [None] * K
    pred: list[list[int]] = [[] for _ in range(K)]
    expert: list[list[int]] = [[] for _ in range(K)]
    frames: list[list | None] = [None] * K
    started = [0.0] * K
    detour: list[float | None] = [None] * K
    done: dict[int, EpisodeTrace] = {}
    bar = SuccessBar(len(seeds), desc, disable=not progress)

    def start(i: int) -> bool:
        if not queue:
            slot_ep[i] = None
            return False
        e = queue.pop()
        slot_ep[i] = e
        started[i] = time.perf_counter()
        obs[i], info[i] = envs[i].reset(options={"episode_seed": int(seeds[e])})
        detour[i] = route_detour(envs[i])
        pred[i], expert[i] = [], []
        frames[i] = [] if e in record else None
        return True

    fresh = [i for i in range(K) if start(i)]
    policy.reset(env_ids=fresh)
    last_obs = next((o for o in obs if o is not None), None)
    while any(e is not None for e in slot_ep):
        batch = [o if o is not None else last_obs for o in obs]
        for i in range(K):
            if slot_ep[i] is not None and frames[i] is not None:
                frames[i].append(envs[i].render())
        out = policy.act(batch)
        fresh = []
        for i in range(K):
            if slot_ep[i] is None:
                continue
            pred[i].append(int(out["skill"][i]))
            expert[i].append(int(info[i]["expert_skill"]))
            o, _, terminated, truncated, inf = envs[i].step(out["action"][i])
            obs[i], info[i] = o, inf
            if not (terminated or truncated):
                continue
            t = EpisodeTrace(
                index=slot_ep[i], seed=int(seeds[slot_ep[i]]), success=bool(inf["success"]),
                failure=inf["failure"], length=int(inf["step"]),
                stages={k[len("stage/"):]: bool(v) for k, v in inf.items()
                        if k.startswith("stage/")},
                predicted_skills=pred[i], expert_skills=expert[i],
                wall_time_s=time.perf_counter() - started[i], frames=frames[i],
                disturbed_at=int(inf[APPLIED_AT]) if inf.get(APPLIED_AT, -1) >= 0 else None,
                language=(policy.episode_language(i) if hasattr(policy, "episode_language")
                          else None),
                route_detour=detour[i])
            done[t.index] = t
            if on_episode is not None:
                on_episode(t)
            bar.add(t.success)
            if start(i):
                fresh.append(i)
            else:
                obs[i] = None
        if fresh:
            policy.reset(env_ids=fresh)
        last_obs = next((o for o in obs if o is not None), last_obs)
    bar.close()
    return [done[e] for e in range(len(seeds))]
