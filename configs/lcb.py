"""LCB stage 2: the language planner and the Skill Transformer trained together through latent
codes, and the baselines that share everything else (same data, policy size and budget).

  robot-skills plan-train --config configs/planner.py --workdir runs/planner     # stage 1 first
  robot-skills generate --config configs/rearrange_hard.py                       # the data
  robot-skills train --config configs/lcb.py:lcb --workdir runs/lcb               # stage 2

Variants (one bridge each, comma-separated modifiers "small", "easy", "tiny"):
  lcb          planner latents as the policy's prefix, planner and policy trained jointly
               (policy loss + LM loss), the planner initialised from stage 1 (planner.init)
  lcb_frozen   the same latents, the stage-1 planner frozen (train.freeze=planner_frozen)
  text_bridge  the policy embeds the plan's words itself (ground-truth plan in training, the
               planner's decoded plan in closed loop); the planner gets its LM loss only
  oracle       the ground-truth plan's words, no planner
  no_planner   one token: the mean embedding of the instruction's words, no planner
  small        the rearrange_hard "small" data and policy (stage 1: configs/planner.py:small
               into runs/planner_small)
  easy         rearrange_easy data instead of rearrange_hard
  two          rearrange_two data (two objects, two goals in one instruction) instead
  tiny         a tiny model, no stage-1 planner (tokenizer fitted on a small corpus): tests
  pointer      (with langgoal) the bridge's prefix reaches the policy through a slot pointer
               only: a distribution over the receptacle kinds whose slot fields enter the
               state token (robot_skills.model.pointer), not as attended tokens; the policy
               starts exactly where its init_from run ended (attended prefix tokens put the
               goal-blind policy's training loss from 1.13 to 6.9-8.2 at step 0 of the
               bridges below); trained with the policy loss + a goal cross-entropy
  langgoal     the goal named only by the instruction: receptacle slots in the state, the
               goal's fields hidden from the policy (configs/rearrange_common.py; its own data,
               `robot-skills generate --config configs/rearrange_hard.py:langgoal`)
  bins, bins_base, nolidar, routecap   the policy as in configs/rearrange_common.py (e.g.
               `lcb,langgoal,bins_base,nolidar` starts from a
               `configs/rearrange_hard.py:bins_base,nolidar,langgoal` run)

Per training window the planner reads a training-grammar instruction for the episode's scene
and the scene text, and is teacher-forced on the episode's ground-truth plan
(robot_skills.planner.episodes). Episodes whose (object, goal) pair is held out are masked out.
Measured (README, stage 2): the three bridges lcb / oracle / text_bridge, each from hD3's
policy (train.init_from=runs/hD3) for 600 steps on runs/data/hard400g (22-27 min each on the
2-core CPU shared with a second job, ~2.2-2.7 s/step): rearrange_hard eval split with held-out
phrasings 45 / 44 / 49 of 100. With the goal named only by the instruction
(`<bridge>,langgoal,bins_base,nolidar`, 1,000 steps from runs/lgSTb on runs/data/hardLG600):
6 / 6 / 4 of 100, the policy without language 9 (README, "The goal named only by the
instruction"). The same with `pointer` (`<bridge>,langgoal,bins_base,nolidar,pointer`, 1,000 steps
from runs/lgSTb, ~9.5 min each): 29 / 33 / 26 of 100 (oracle / lcb / text_bridge), the pointer
at the goal in 100 / 98 / 100. On rearrange_two (`oracle,two,langgoal,bins_base,nolidar,pointer`,
800 steps from a 2,500-step Skill Transformer on 400 demos): 0/50, the base policy too weak.
"""

from __future__ import annotations

import ml_collections

from configs.planner import get_config as planner_config
from configs.rearrange_common import (CAP_VARIANTS, DROP_VARIANTS, HEAD_VARIANTS, LANGUAGE_GOAL,
                                      rearrange_config)

BRIDGE_VARIANTS = {
    "lcb": {"bridge": "lcb", "freeze": "joint"},
    "lcb_frozen": {"bridge": "lcb", "freeze": "planner_frozen"},
    "text_bridge": {"bridge": "text", "freeze": "joint"},
    "oracle": {"bridge": "oracle", "freeze": "joint"},
    "no_planner": {"bridge": "instruction", "freeze": "joint"},
}
# Tokens handed to the rearrange config as they are (configs/rearrange_common.py): the goal
# named only by the instruction, the policy's action head, state fields it does not read and
# the route-length cap; a policy started from a Skill Transformer run (train.init_from) needs
# that run's tokens.
POLICY_MODIFIERS = (LANGUAGE_GOAL,) + tuple(HEAD_VARIANTS) + tuple(DROP_VARIANTS) \
    + tuple(CAP_VARIANTS)
MODIFIERS = ("small", "easy", "two", "tiny", "pointer") + POLICY_MODIFIERS
POINTER_HEADS = 1  # modifier "pointer": heads of the slot pointer (robot_skills.model.pointer)
# The tiny variant (tests): everything small enough for a few CPU steps in seconds.
TINY_MODEL = dict(d_model=32, num_layers=1, num_heads=2, mlp_dim=64, state_hidden=32, context=4)
TINY_PLANNER = dict(d_model=32, num_layers=1, num_heads=2, mlp_dim=64, max_act=12)


def get_config(variant: str = "lcb") -> ml_collections.ConfigDict:
    tokens = [t.strip() for t in variant.split(",") if t.strip()]
    bridges = [t for t in tokens if t in BRIDGE_VARIANTS]
    unknown = sorted(set(tokens) - set(BRIDGE_VARIANTS) - set(MODIFIERS))
    if unknown or len(bridges) != 1:
        raise ValueError(f"variant {variant!r}: give exactly one of {tuple(BRIDGE_VARIANTS)} "
                         f"and any of the modifiers {MODIFIERS} (unknown: {unknown})")
    spec = BRIDGE_VARIANTS[bridges[0]]
    small, tiny = "small" in tokens, "tiny" in tokens
    if "easy" in tokens and "two" in tokens:
        raise ValueError(f"variant {variant!r}: 'easy' and 'two' each choose the task; give one")
    task = "rearrange_easy" if "easy" in tokens else \
        "rearrange_two" if "two" in tokens else "rearrange_hard"
    data_variant = ",".join((["small"] if small or tiny else [])
                            + [t for t in tokens if t in POLICY_MODIFIERS])
    c = rearrange_config(task, data_variant,
                         episodes=1000, small_episodes={"rearrange_easy": 24}.get(task, 16))
    # The planner's latents depend on the episode only: batches of G episodes x B/G windows
    # run it G times a batch, not B (512 planner passes of 144 tokens made a step ~26 s on the
    # 2-core CPU; robot_skills.data.sampling.sample_positions).
    c.data.episodes_per_batch = 8
    if tiny:
        c.model.update(TINY_MODEL)
        c.data.update(window=4, batch_size=8, prefetch=2, val_fraction=0.25,
                      episodes_per_batch=4)
        c.train.update(steps=3, warmup_steps=1, log_every=1, eval_every=3, eval_batches=1,
                       checkpoint_every=3)
    c.train.freeze = spec["freeze"]  # robot_skills.planner.freeze.MODES

    stage1 = planner_config("small" if small or tiny else "")
    p = c.planner = ml_collections.ConfigDict()
    # Stage-1 workdir (`robot-skills plan-train`): LM weights and tokenizer. "" = a fresh LM
    # and a tokenizer fitted on `planner.data`.
    p.init = "" if tiny else ("runs/planner_small" if small else "runs/planner")
    p.model = stage1.model  # PlannerConfig (used when init is ""; else the checkpoint's)
    if tiny:
        p.model.update(TINY_PLANNER)
    p.model.latent_dim = c.model.d_model  # a latent code is one policy prefix token
    p.data = ml_collections.ConfigDict({"train_samples": 200 if tiny else
                                        stage1.data.train_samples,
                                        "min_count": stage1.data.min_count})
    p.prompt_width = 96  # planner columns kept left of prompt_len (instruction + scene)
    # Planner columns kept from prompt_len on (plan + <eos>): one-move plans reach ~40 tokens,
    # two-move plans 54 (150 rearrange_two training scenes).
    p.plan_width = 64 if task == "rearrange_two" else 48

    b = c.bridge = ml_collections.ConfigDict()
    b.bridge = spec["bridge"]  # robot_skills.planner.bridge.BRIDGES
    b.lm_weight = 1.0  # planner LM loss next to the policy loss
    b.step_words = 6  # words per plan-step slot (word bridges)
    c.model.prefix_tokens = 1 if b.bridge == "instruction" else p.model.max_act
    if "pointer" in tokens:
        if "langgoal" not in tokens:
            raise ValueError(f"variant {variant!r}: 'pointer' points at the receptacle slots, "
                             f"which only 'langgoal' data has; add 'langgoal'")
        c.model.slot_pointer = POINTER_HEADS
        c.model.prefix_attention = False
    return c
