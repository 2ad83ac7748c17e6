"""What one evaluation process runs, and the spawn pool that runs several (`robot-skills eval
--workers W`).

EvalSetup says how to build K envs and the agent (a checkpoint Policy or the scripted expert,
optionally with a disturbance) and where recorded episodes' video and timeline go. evaluate()
deals the seeds round-robin to W processes (episode i to worker i % W; W = 1 runs in this
process, as before), each with its own agent and K envs, and returns the traces in seed order;
workers report finished episodes through a queue for the running-success bar. Rows of a batched
policy step are independent of each other and every process steps the same K, so an episode's
numbers do not depend on W (tested).
"""

from __future__ import annotations

import contextlib
import dataclasses
import multiprocessing as mp
import os
import queue as queue_lib
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from robot_skills.evaluation import ExpertPolicy, EpisodeTrace, run_episodes
from robot_skills.evaluation.rollout import SuccessBar
from sim.disturbances import DisturbanceConfig, Disturbed
from sim.skills import SKILL_NAMES

# One thread per worker for XLA and BLAS so that W workers share the cores without
# oversubscribing them; no GPU memory preallocation (several processes may share one device).
WORKER_XLA_FLAGS = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
WORKER_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
              "XLA_PYTHON_CLIENT_PREALLOCATE": "false", "MUJOCO_GL": "egl"}


@dataclasses.dataclass(frozen=True)
class EvalSetup:
    """Everything a process needs to evaluate its share of seeds (picklable)."""

    task: str
    split: str
    policy: str  # "checkpoint" or "expert"
    checkpoint: str | None = None  # checkpoint directory (policy "checkpoint")
    camera_size: int = 64
    disturbance: DisturbanceConfig | None = None
    out: str | None = None  # media of recorded episodes go here (None: frames stay in traces)
    instructions: str = "train"  # LCB checkpoints: phrasing of the instruction per episode
    clamp_state: bool = False  # checkpoints: the state clipped to the training range (Policy)
    route_length_cap: float | None = None  # checkpoints: overrides the model's (Policy)

    def __post_init__(self):
        if self.policy not in ("checkpoint", "expert"):
            raise ValueError(f"unknown policy {self.policy!r}; use 'expert' or 'checkpoint'")
        if self.clamp_state and self.policy != "checkpoint":
            raise ValueError("clamp_state clips what a checkpoint's policy reads; the expert "
                             "reads the simulator's state (drop --clamp-state)")
        if self.route_length_cap is not None and self.policy != "checkpoint":
            raise ValueError("route_length_cap changes what a checkpoint's policy reads; the "
                             "expert reads the simulator's state (drop --route-length-cap)")
        if self.route_length_cap is not None:
            from sim.observation import route_length_bounds
            route_length_bounds(self.route_length_cap)  # validates the cap

    def predicts_skill(self) -> bool:
        """Whether the agent's skill output is a prediction (False for the expert, whose skill is
        the label, and for a checkpoint without a skill head), read without loading params."""
        if self.policy == "expert":
            return False
        from robot_skills.model import ModelConfig
        return ModelConfig.from_config(self._meta()["model"]).skill_head

    def _meta(self) -> dict:
        from robot_skills.planner.stage2 import FORMAT as LCB_FORMAT
        from robot_skills.policy.checkpoint import FORMAT, read_meta, resolve_step_dir
        return read_meta(resolve_step_dir(self.checkpoint), (FORMAT, LCB_FORMAT))

    def build(self, K: int) -> tuple[list, object]:
        """K envs and the agent that steps them together."""
        if self.policy == "expert":
            envs = [self._env(()) for _ in range(K)]
            return envs, ExpertPolicy(envs)
        from robot_skills.planner.stage2 import FORMAT as LCB_FORMAT
        meta = self._meta()
        if meta["format"] == LCB_FORMAT:  # planner + policy: the prefix comes at each reset
            if self.route_length_cap is not None:
                raise ValueError("--route-length-cap applies to Skill Transformer checkpoints; "
                                 "an LCB checkpoint's policy reads what it was trained with")
            from robot_skills.planner.agent import LCBAgent
            envs = [self._env(tuple(meta["model"]["image_keys"]),
                              int(meta["model"]["state_dim"])) for _ in range(K)]
            return envs, LCBAgent.load(self.checkpoint, envs, self.instructions)
        from robot_skills.policy import Policy
        agent = Policy.load(self.checkpoint, batch_size=K, clamp_state=self.clamp_state,
                            route_length_cap=self.route_length_cap)
        return [self._env(tuple(agent.config.image_keys), agent.config.state_dim)
                for _ in range(K)], agent

    def _env(self, cameras: tuple[str, ...], state_dim: int = 0):
        """An env whose observation is what the policy reads: its camera streams, and the
        receptacle slots when its state has them."""
        from sim.env import RearrangeEnv
        from sim.observation import has_receptacle_slots
        env = RearrangeEnv(task=self.task, split=self.split, cameras=cameras,
                           camera_size=self.camera_size,
                           receptacle_slots=has_receptacle_slots(state_dim))
        width = env.observation_space["state"].shape[0]
        if state_dim and width != state_dim:
            env.close()
            raise ValueError(
                f"the checkpoint's policy reads a state of width {state_dim}, the {self.task} "
                f"env writes {width}: a multi-move task (sim.scene.MULTI_MOVE_TASKS) ends its "
                f"state in a move field single-move tasks lack; evaluate on the task the "
                f"policy was trained for (its config's task.name)")
        return env if self.disturbance is None else Disturbed(env, self.disturbance)


def _skill(s: int) -> str:
    return SKILL_NAMES[s] if 0 <= s < len(SKILL_NAMES) else "-"


def _video_frames(trace: EpisodeTrace) -> list:
    from train.video import caption
    hit = trace.disturbed_at if trace.disturbed_at is not None else len(trace.frames) + 1
    frames = [caption(f, f"seed {trace.seed}  t {t}  predicted: {_skill(p)}  "
                         f"expert: {_skill(e)}" + ("  [disturbed]" if t >= hit else ""))
              for t, (f, p, e) in enumerate(zip(trace.frames, trace.predicted_skills,
                                                trace.expert_skills))]
    verdict = "success" if trace.success else f"failed: {trace.failure}"
    return frames + [caption(trace.frames[-1], f"seed {trace.seed}  {verdict}")] * 10


def write_media(out: str, trace: EpisodeTrace, fps: int, predicted: bool = True) -> None:
    """video_<seed>.mp4 (skills captioned on every frame) and timeline_<seed>.png of a
    recorded episode into `out`; the frames are dropped from the trace, the paths added."""
    from robot_skills.evaluation.plots import plot_skill_timeline
    from train.video import write_video
    out = Path(out)
    trace.files[f"video_{trace.seed}"] = str(write_video(out / f"video_{trace.seed}.mp4",
                                                         _video_frames(trace), fps=fps))
    trace.files[f"timeline_{trace.seed}"] = str(plot_skill_timeline(
        out / f"timeline_{trace.seed}.png", trace, predicted=predicted))
    trace.frames = None


def run_share(setup: EvalSetup, envs: int, seeds: Sequence[int], record: Sequence[int] = (),
              progress: bool = False, desc: str = "eval",
              on_episode=None) -> list[EpisodeTrace]:
    """One process's part: the agent and `envs` envs over `seeds` (traces indexed by position in
    `seeds`); media of the `record` positions written to setup.out. Every process steps the same
    batch size, even when its share is smaller (spare slots idle), so the policy runs the same
    computation in every process."""
    env_list, agent = setup.build(envs)
    fps = env_list[0].metadata["render_fps"]

    def finished(t: EpisodeTrace) -> None:
        if t.frames and setup.out is not None:
            write_media(setup.out, t, fps, predicted=agent.predicts_skill)
        if on_episode is not None:
            on_episode(t)

    try:
        return run_episodes(env_list, agent, seeds, record=record, progress=progress, desc=desc,
                            on_episode=finished)
    finally:
        for e in env_list:
            e.close()


_DONE_QUEUE = None  # worker side: where finished episodes are announced


def _init_worker(done_queue) -> None:
    global _DONE_QUEUE
    _DONE_QUEUE = done_queue


def _run_worker_share(setup: EvalSetup, envs: int, indices: list[int], seeds: list[int],
                      record: list[int]) -> list[EpisodeTrace]:
    traces = run_share(setup, envs, seeds, record,
                       on_episode=lambda t: _DONE_QUEUE.put(bool(t.success)))
    for t in traces:
        t.index = indices[t.index]
    return traces


@contextlib.contextmanager
def worker_environ():
    """The environment spawned workers start with (they copy os.environ when started); the
    user's own settings win, XLA_FLAGS is extended."""
    new = {k: v for k, v in WORKER_ENV.items() if k not in os.environ}
    new["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {WORKER_XLA_FLAGS}".strip()
    saved = {k: os.environ.get(k) for k in new}
    os.environ.update(new)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def evaluate(setup: EvalSetup, seeds: Sequence[int], envs: int = 4, workers: int = 1,
             record: Sequence[int] = (), progress: bool = True,
             desc: str = "eval") -> list[EpisodeTrace]:
    """Every seed once, episode i in worker i % W with `envs` envs stepped together; traces in
    seed order. record: indices into `seeds` whose video/timeline are written."""
    W = max(1, min(workers, len(seeds)))
    if W == 1:
        return run_share(setup, envs, seeds, record, progress=progress, desc=desc)
    from train.generate_job import stop_pool
    record = set(record)
    shares = [list(range(w, len(seeds), W)) for w in range(W)]
    ctx = mp.get_context("spawn")  # JAX and fork do not mix
    done = ctx.Queue()
    bar = SuccessBar(len(seeds), desc, disable=not progress)
    with worker_environ():  # the pool starts its W processes in submit()
        pool = ProcessPoolExecutor(W, mp_context=ctx, initializer=_init_worker,
                                   initargs=(done,))
        futures = [pool.submit(_run_worker_share, setup, envs, idx, [seeds[i] for i in idx],
                               [j for j, i in enumerate(idx) if i in record])
                   for idx in shares]
    try:
        while bar.done < len(seeds):
            try:
                bar.add(done.get(timeout=0.5))
            except queue_lib.Empty:
                for f in futures:  # a worker that raised (or died) ends the run
                    if f.done() and f.exception() is not None:
                        raise f.exception()
        traces = [t for f in futures for t in f.result()]
        pool.shutdown(wait=True)
    finally:
        bar.close()
        stop_pool(pool)  # after an error: without waiting for the other shares
        done.close()
        done.join_thread()
    return sorted(traces, key=lambda t: t.index)
