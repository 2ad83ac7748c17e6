"""The sections every rearrange config shares (`task`, `env`, `data`) and its variants.

`configs/rearrange_easy.py` and `configs/rearrange_hard.py` call `rearrange_config`; later stages
add `model` and `train` sections next to these. Variants are comma-separated tokens:
"small" (the `make demo` size), "depth" / "rgb" (head-camera streams in the observation), and
the baselines of `robot-skills compare`, which change only model flags (same dataset directory,
same training budget): "flat_bc" (no skill head, no skill conditioning) and "skill_nocond"
(skill head, action not conditioned on the skill); action heads ("bins", "bins_base"), skill
roles ("roles", "routes"), "nolidar" (the model does not read the lidar; same data),
"routecap" (the model reads each route's length as at most 3 m; same data) and "langgoal"
(receptacle slots in the state, the goal's fields hidden from the model: only the instruction
names the goal; its own data).
"""

from __future__ import annotations

import ml_collections

# Baseline tokens -> ModelConfig flags. They never change data.dir or the train section.
MODEL_VARIANTS = {
    "flat_bc": {"skill_head": False, "skill_conditioning": False},
    "skill_nocond": {"skill_head": True, "skill_conditioning": False},
}
# Action head (combines with any model variant): "bins" = 64 bins per base/arm dim (RT-1 style
# categories, ModelConfig.action_bins); the cross-entropy terms get weight 1 (the MSE's arm x5
# made up for the small size of joint-delta errors, which a category loss does not have).
# "bins_base": the same 64 bins for the base (forward, yaw rate) only, the arm regressed
# (ModelConfig.bin_dims="base") at weight 25: at the default 5 the base's cross-entropy (~0.8)
# dominated and the arm fit slower (rearrange_hard 57/33 -> 73/69,
# docs/results/rearrange_hard.md, "Categories for the base only"); the best rearrange_hard
# policy so far.
HEAD_VARIANTS = {"bins": {"action_bins": 64, "loss": {"arm_weight": 1.0}},
                 "bins_base": {"action_bins": 64, "bin_dims": "base", "loss": {"arm_weight": 25.0}}}
# "roles": skill roles (robot_skills.data.roles): a role head and role-conditioned skill tokens
# (navigate to the source vs to the goal); combines with any head and with neither baseline
# (both drop the skill condition the role refines). "routes": the finer "route" scheme (the
# work pose a step serves: pick / place / the source's / the goal's handle), so "navigate" to
# open the source and "navigate" to pick from it get different roles.
ROLE_VARIANTS = {"roles": "receptacle", "routes": "route"}
# State fields the model does not read (ModelConfig.drop_state; same dataset). "nolidar": the
# 2 x 32 lidar ranges. On rearrange_hard (:bins_base, hard1000f, two seeds) without them: 89 and
# 83/100 eval, 68 and 68/100 unseen layouts, against 86 and 76, 62 and 57 with them (the
# partition wall of the unseen rooms reads unlike any training wall; README).
DROP_VARIANTS = {"nolidar": ("lidar",)}
# "routecap": ModelConfig.route_length_cap = 3 m, each route's path length read as min(length,
# 3 m) in training (WindowLoader) and at run time (Policy; kept in the checkpoint). The unseen
# rooms' partition makes routes of up to 11 m where demonstrations reach 7 m (95th percentile
# 3.6-4.4 m, hence 3); rearrange_hard unseen layouts 77 -> 86/100 with the cap read at
# evaluation, 83/100 for a second seed (docs/results/rearrange_hard.md, "Route lengths beyond
# the demonstrations'").
CAP_VARIANTS = {"routecap": 3.0}
# "langgoal": the goal is named only by the instruction. The state ends in one slot per
# receptacle kind (env.receptacle_slots, sim.observation.SLOT_LAYOUT: a free spot on it, the
# routes to place there and to open it, its handle and open fraction; its own data directory)
# and the model does not read the goal's fields nor the task flags (which tell whether the goal
# is a container). A policy without language can only guess the goal: the test of the language
# bridges (configs/lcb.py modifier "langgoal").
GOAL_FIELDS = ("goal_pos", "goal_rel", "goal_handle", "goal_handle_rel", "goal_route",
               "goal_pose_rel", "goal_open_route", "goal_open_pose_rel", "articulation",
               "task_flags")
LANGUAGE_GOAL = "langgoal"
VARIANTS = (("small", "depth", "rgb", LANGUAGE_GOAL) + tuple(ROLE_VARIANTS)
            + tuple(MODEL_VARIANTS) + tuple(HEAD_VARIANTS) + tuple(DROP_VARIANTS)
            + tuple(CAP_VARIANTS))


def parse_variant(variant: str) -> set[str]:
    tokens = {t.strip() for t in variant.split(",") if t.strip()}
    unknown = sorted(tokens - set(VARIANTS))
    if unknown:
        raise ValueError(f"unknown config variant(s) {unknown}; valid variants: "
                         f"{', '.join(VARIANTS)} (combine with commas, e.g. 'small,depth')")
    for group, what in ((MODEL_VARIANTS, "model"), (HEAD_VARIANTS, "action head"),
                        (ROLE_VARIANTS, "role")):
        picked = sorted(tokens & set(group))
        if len(picked) > 1:
            raise ValueError(f"config variants {picked} exclude each other: pick one {what} "
                             f"variant")
    roles = sorted(tokens & set(ROLE_VARIANTS))  # at most one (checked above)
    if roles and tokens & set(MODEL_VARIANTS):
        raise ValueError(f"config variant {roles[0]!r} refines the skill condition, which the "
                         f"baselines {sorted(tokens & set(MODEL_VARIANTS))} do not have: "
                         f"drop one")
    return tokens


def rearrange_config(task: str, variant: str, episodes: int, small_episodes: int
                     ) -> ml_collections.ConfigDict:
    tokens = parse_variant(variant)
    c = ml_collections.ConfigDict()
    c.task = ml_collections.ConfigDict({"name": task})

    c.env = ml_collections.ConfigDict()
    c.env.cameras = tuple(cam for cam in ("depth", "rgb") if cam in tokens)  # head camera streams
    c.env.camera_size = 64  # pixels (square)
    # Layout families the training split draws from besides perimeter/galley/corner
    # (sim.scene.SceneConfig.extra_train_families; "island": a free-standing divider). Only
    # generation reads it; eval and unseen scenes never change with it.
    c.env.extra_train_families = ()
    # The state ends in the receptacle slots (sim.observation.SLOT_LAYOUT; variant "langgoal").
    c.env.receptacle_slots = LANGUAGE_GOAL in tokens

    d = c.data = ml_collections.ConfigDict()
    suffix = "".join(f"_{t}" for t in sorted(tokens - set(MODEL_VARIANTS) - set(HEAD_VARIANTS)
                                             - set(ROLE_VARIANTS) - set(DROP_VARIANTS)
                                             - set(CAP_VARIANTS)))
    # (model, head, role, drop and cap variants train on the same data)
    d.dir = f"runs/data/{task}{suffix}"  # dataset directory: `generate --out` default
    # Generation (`robot-skills generate`).
    d.split = "train"  # seed split the episodes come from
    d.start = 0  # first episode index in the split
    d.episodes = small_episodes if "small" in tokens else episodes  # episodes written
    d.noise_std = 0.05  # DART noise on the executed action (labels stay clean)
    d.keep_failed = False  # keep failed expert episodes (metadata expert_success=False)
    # DAgger: a trained policy (workdir or checkpoint dir) drives, the expert labels every state;
    # the expert's action is executed instead with probability beta per step. "" = expert only.
    d.driver = ""
    d.beta = 0.0
    d.max_attempts = 4.0  # give up after max_attempts * episodes expert runs
    d.workers = 0  # expert processes; 0 = all cores
    # Reading (robot_skills.data.WindowLoader).
    # T: steps per training window = the model's attention span (model.context). Two steps (the
    # current one and the one before): with 16 the default-size model learned "after standing
    # still, keep standing still" from the history (a copycat of its own past) and stalled 6 cm
    # short of a work pose; the same data, model and budget with 2: rearrange_easy 29/100 ->
    # 98/100 (README, runs eD1 / eD3). B x T = 1,024 steps per batch either way.
    d.window = 2
    d.batch_size = 512  # B
    d.val_fraction = 0.05  # episodes held out for validation (by episode, deterministic)
    d.seed = 0  # batch order and train/val split are pure functions of it
    d.normalization = ml_collections.ConfigDict({"state": "mean_std", "action": "none"})
    d.prefetch = 4  # batches built ahead by background threads
    d.threads = 2  # loader threads
    d.cache_mb = 64  # bound on decoded episodes kept in memory (LRU; 512 windows a batch)
    # 0: every window drawn independently. G > 0: G episodes a batch, B/G windows each (the LCB
    # configs: the planner then runs G times a batch, not B; configs/lcb.py).
    d.episodes_per_batch = 0
    # Skill-switch augmentation (loader `condition_skill`): in a skill_shift_prob share of the
    # windows the action is conditioned on the expert's skill labels k steps later or earlier
    # (0 < |k| <= skill_shift), the action target unchanged, so a skill head that switches a
    # little early or late at run time finds an action that still does the expert's work
    # (rearrange_hard: a premature `open` short of the work pose stalled hD3 / hE). 0: off.
    d.skill_shift = 0
    d.skill_shift_prob = 0.0
    
    # Model (robot_skills.model.ModelConfig) and training (train/train_job.py).
    from robot_skills.model.config import model_section
    c.model = model_section("small" if "small" in tokens else "default", c.env.cameras)
    c.model.context = d.window
    for t in tokens & set(MODEL_VARIANTS):
        c.model.update(MODEL_VARIANTS[t])
    for t in tokens & set(HEAD_VARIANTS):
        head = dict(HEAD_VARIANTS[t])
        c.model.loss.update(head.pop("loss", {}))
        c.model.update(head)
    c.model.drop_state = tuple(f for t in sorted(tokens & set(DROP_VARIANTS))
                               for f in DROP_VARIANTS[t])
    # The width of the state the env of this task writes (receptacle slots, a multi-move
    # task's move field): the model reads the layout from it.
    from sim.observation import state_width
    from sim.scene import MULTI_MOVE_TASKS
    c.model.state_dim = state_width(LANGUAGE_GOAL in tokens, task in MULTI_MOVE_TASKS)
    if LANGUAGE_GOAL in tokens:
        c.model.drop_state = c.model.drop_state + GOAL_FIELDS
    for t in tokens & set(CAP_VARIANTS):
        c.model.route_length_cap = CAP_VARIANTS[t]
    d.role_scheme = "receptacle"  # robot_skills.data.roles scheme, used when model.num_roles > 0
    for t in tokens & set(ROLE_VARIANTS):
        from robot_skills.data.roles import num_roles
        d.role_scheme = ROLE_VARIANTS[t]
        c.model.num_roles = num_roles(d.role_scheme)
    c.train = train_section(tokens)
    return c


def train_section(tokens: set[str]) -> ml_collections.ConfigDict:
    """Optimisation, logging and checkpointing of `robot-skills train`."""
    small = "small" in tokens
    t = ml_collections.ConfigDict()
    t.steps = 600 if small else 6000
    t.lr = 1e-3 if small else 6e-4  # AdamW peak learning rate
    t.warmup_steps = 50 if small else 300
    t.min_lr_ratio = 0.05  # the cosine decays to lr * min_lr_ratio
    t.weight_decay = 1e-4
    t.grad_clip = 1.0  # global norm
    t.seed = 0
    t.init_from = ""  # a run (workdir or checkpoint dir) whose parameters start this one
    t.max_minutes = 0.0  # > 0: stop (evaluate, checkpoint) after this wall time; schedule unchanged
    t.log_every = 25
    t.eval_every = 200 if small else 1000
    t.eval_batches = 4
    t.checkpoint_every = 200 if small else 1000
    t.keep_checkpoints = 2
    t.multihost = False  # call jax.distributed.initialize() first (multi-host runs)
    return t
