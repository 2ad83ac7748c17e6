"""The planner's side of a demonstration episode (stage 2): from its seed and task, the scene
the expert ran in, a training-grammar instruction for it, the scene text and the ground-truth
plan; encoded once per episode and attached to every training window of that episode.

  instruction  sim.instruction_samples.train_instruction(scene, seed): TRAIN_TEMPLATES only,
               one phrasing per episode (held-out templates never reach training)
  scene        sim.scene_facts.scene_text(scene)
  plan         sim.plans.plan_text(plan_for(scene))

The scene is rebuilt with sim.scene.sample_scene(seed, task) and checked against the episode's
stored instruction (sim.instructions.instruction is a pure function of scene and seed); when
they differ (the env's physics check rejected the sampler's first layout) it is rebuilt exactly
by resetting a RearrangeEnv on the seed. Episodes whose (object, goal) pair is in
sim.instruction_samples.HELDOUT_PAIRS are masked out of every loss (mask and plan_loss_mask
False): held-out pairs never reach training.

The planner layout keeps the columns [prompt_len - prompt_width, prompt_len + plan_width) of
sequence.layout: one fixed shape (one compiled train step) and fewer FLOPs than the full
layout; positions are relative, so the valid tokens compute the same. An episode that does not
fit is an error naming the width to raise.
"""

from __future__ import annotations

import dataclasses
import threading

import numpy as np

from robot_skills.planner.bridge import BridgeConfig, instruction_slot, plan_step_slots
from robot_skills.planner.config import PlannerConfig
from robot_skills.planner.joint import batch_keys
from robot_skills.planner.sequence import encode_plan, encode_prompt, layout
from robot_skills.planner.tokenizer import PlanTokenizer


@dataclasses.dataclass(frozen=True)
class EpisodeLanguage:
    instruction: str
    scene: str
    plan: str
    heldout_pair: bool  # its (object, goal) pair is held out: never trained on
    goals: tuple[str, ...] = ()  # the goal receptacle of each move (the plan's place steps)


def exact_scene(seed: int, task: str, stored_instruction: str | None = None):
    """The Scene the env ran for (seed, task): the sampler's first layout when it agrees with
    the stored instruction (or none is given), else the env's own (physics-checked) scene."""
    from sim.instructions import instruction
    from sim.scene import sample_scene, split_of

    def matches(scene) -> bool:
        # Datasets written before the recorder read env.episode_scene (sim/env.py) store, for a
        # multi-move episode that reached its second move, the instruction of the scene at that
        # move: it identifies the same scene (same seed, same layout), so it is accepted.
        return stored_instruction is None or stored_instruction in (
            [instruction(scene, seed)]
            + [instruction(scene.at_move(k), seed) for k in range(1, len(scene.moves))])

    scene = sample_scene(seed, task)
    if matches(scene):
        return scene
    from sim.env import RearrangeEnv
    env = RearrangeEnv(task=task, split=split_of(seed), render_mode=None)
    try:
        env.reset(options={"episode_seed": seed})
        scene = env.episode_scene
    finally:
        env.close()
    if not matches(scene):
        raise ValueError(f"episode seed {seed} ({task}): the rebuilt scene's instruction "
                         f"{instruction(scene, seed)!r} is not the stored {stored_instruction!r}; "
                         f"the dataset was made with another scene config or code version: "
                         f"regenerate it with this code")
    return scene


def episode_language(scene) -> EpisodeLanguage:
    from sim.instruction_samples import HELDOUT_PAIRS, train_instruction
    from sim.plans import plan_for, plan_text
    from sim.scene_facts import scene_text
    t = scene.task
    pairs = [(m.target, m.goal) for m in scene.moves] or (
        [(t.target, t.goal)] if t.task in ("rearrange_easy", "rearrange_hard", "place") else [])
    return EpisodeLanguage(train_instruction(scene, scene.seed), scene_text(scene),
                           plan_text(plan_for(scene)), any(p in HELDOUT_PAIRS for p in pairs),
                           tuple(goal for _, goal in pairs))


def goal_kinds(goals: tuple[str, ...]) -> np.ndarray:
    """(MAX_MOVES,) int32: each move's goal as an index of sim.observation.SLOT_KINDS, -1 past
    the episode's moves (the slot pointer's targets, robot_skills.planner.joint.lcb_loss)."""
    from sim.observation import MAX_MOVES, SLOT_KINDS
    out = np.full(MAX_MOVES, -1, np.int32)
    out[:len(goals)] = [SLOT_KINDS.index(g) for g in goals]
    return out


@dataclasses.dataclass(frozen=True)
class Widths:
    prompt: int  # columns kept left of prompt_len
    plan: int  # columns kept from prompt_len on

    def check(self, config: PlannerConfig) -> None:
        if not (0 < self.prompt <= config.prompt_len and 0 < self.plan <= config.plan_len):
            raise ValueError(f"planner widths ({self.prompt}, {self.plan}) must lie in "
                             f"(0, {config.prompt_len}] and (0, {config.plan_len}]")


def encode_language(lang: EpisodeLanguage, tok: PlanTokenizer, config: PlannerConfig,
                    bridge: BridgeConfig, widths: Widths) -> dict[str, np.ndarray]:
    """One episode's arrays (no batch axis): the planner layout cut to `widths` (plan_tokens,
    plan_valid, plan_targets, plan_loss_mask (W,)), the word slots (words (K, n)) and the
    moves' goal kinds (goal_kinds (MAX_MOVES,))."""
    prompt = encode_prompt(tok, lang.instruction, lang.scene, config)
    plan = encode_plan(tok, lang.plan, config)
    if len(prompt) > widths.prompt or len(plan) > widths.plan:
        raise ValueError(f"episode language of {len(prompt)} prompt / {len(plan)} plan tokens "
                         f"exceeds planner.prompt_width={widths.prompt} / planner.plan_width="
                         f"{widths.plan}; raise them ({lang.instruction!r})")
    arr = layout([prompt], [plan], config)
    P = config.prompt_len
    cols = slice(P - widths.prompt, P + widths.plan)
    out = {"plan_" + k: v[0, cols] for k, v in (("tokens", arr["tokens"]),
                                                 ("valid", arr["valid"]),
                                                 ("targets", arr["targets"]),
                                                 ("loss_mask", arr["loss_mask"]))}
    out["words"] = word_slots(tok, config, bridge, lang.instruction, plan)
    out["goal_kinds"] = goal_kinds(lang.goals)
    return out


def word_slots(tok: PlanTokenizer, config: PlannerConfig, bridge: BridgeConfig,
               instruction: str, plan) -> np.ndarray:
    """(K, n) int32 word slots of a word bridge: the instruction's words (one slot) or the
    plan's steps (plan: text or token ids)."""
    K, n = bridge.slots(config), bridge.words_per_slot(config)
    if bridge.bridge == "instruction":
        return instruction_slot(tok.encode(instruction), n)
    ids = tok.encode(plan, allow_special=True) if isinstance(plan, str) else plan
    return plan_step_slots(ids, K, n)


class EpisodeLanguageTable:
    """Language arrays per dataset record, computed on first use and kept (a few hundred bytes
    per episode); `attach(batch)` adds this bridge's fields to a loader batch."""

    def __init__(self, task: str, tok: PlanTokenizer, config: PlannerConfig,
                 bridge: BridgeConfig, widths: Widths):
        widths.check(config)
        self.task, self.tok, self.config, self.bridge, self.widths = \
            task, tok, config, bridge, widths
        self.keys = batch_keys(bridge)
        self._rows: dict[int, tuple[EpisodeLanguage, dict]] = {}
        self._lock = threading.Lock()

    def row(self, record: int, seed: int, stored_instruction: str | None = None
            ) -> tuple[EpisodeLanguage, dict]:
        with self._lock:
            got = self._rows.get(record)
        if got is None:
            lang = episode_language(exact_scene(int(seed), self.task, stored_instruction))
            got = lang, encode_language(lang, self.tok, self.config, self.bridge, self.widths)
            with self._lock:
                self._rows[record] = got
        return got

    def attach(self, batch: dict, seeds: np.ndarray, groups: int = 0) -> dict:
        """batch (robot_skills.data.loader layout) + this bridge's language fields; rows of
        held-out-pair episodes get mask and plan_loss_mask False. seeds: per record.

        groups=0: every field has the batch axis (B, ...). groups=G > 0 (the loader's
        episodes_per_batch: G group-major runs of B/G windows of one episode): the planner
        fields plan_* are (G, W), one row per episode, and the model repeats the planner's
        output over each run (robot_skills.planner.joint.LCBModel.prefix); words stay (B, ...)."""
        rows = [self.row(int(r), int(seeds[r]), str(i)) for r, i in
                zip(batch["episode"], batch["language_instruction"])]
        run = 1  # windows per planner row
        if groups:
            run = len(rows) // groups
            if len(rows) % groups or any(len(set(batch["episode"][g * run:(g + 1) * run])) != 1
                                         for g in range(groups)):
                raise ValueError(f"the batch of {len(rows)} windows is not {groups} runs of one "
                                 f"episode each (data.episodes_per_batch)")
        out = dict(batch)
        for k in self.keys:
            picked = rows[::run] if k.startswith("plan_") else rows
            out[k] = np.stack([arrays[k] for _, arrays in picked])  # (B or G, ...)
        held = np.array([lang.heldout_pair for lang, _ in rows])  # (B,)
        out["mask"] = batch["mask"] & ~held[:, None]
        if "plan_loss_mask" in out:
            out["plan_loss_mask"] = out["plan_loss_mask"] & ~held[::run, None]
        return out


class PlanWindows:
    """A WindowLoader whose batches carry the episode language (same batch(step) / iterate)."""

    def __init__(self, loader, table: EpisodeLanguageTable):
        self.loader, self.table = loader, table

    @property
    def dataset(self):
        return self.loader.dataset

    def _attach(self, batch: dict) -> dict:
        return self.table.attach(batch, self.loader.dataset.seeds,
                                 self.loader.episodes_per_batch)

    def batch(self, step: int) -> dict:
        return self._attach(self.loader.batch(step))

    def iterate(self, start_step: int = 0):
        for b in self.loader.iterate(start_step):
            yield self._attach(b)
