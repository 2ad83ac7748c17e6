"""The `robot-skills` command line: expert, generate, train, eval, compare, bench, demo,
plan-train, plan."""

from __future__ import annotations

import argparse
import json
import os
import sys


def _emit(result: dict, json_path: str | None) -> int:
    """Prints a benchmark's JSON and writes it to `json_path` when given."""
    from train.expert_job import write_json
    print(json.dumps(result, indent=2))
    if json_path:
        write_json(json_path, result)
    return 0


def _cmd_expert(args) -> int:
    from train.expert_job import format_report, run_expert_report, write_json
    s = run_expert_report(args.task, args.episodes, args.split, workers=args.workers,
                          noise_std=args.noise, start=args.start)
    print(format_report(s))
    if args.json:
        write_json(args.json, s)
        print(f"  json           {args.json}")
    if args.video:
        path = record_expert_video(args.task, args.split, args.video, episodes=args.video_episodes,
                                   start=args.start)
        print(f"  video          {path}")
    return 0


def record_expert_video(task, split, path, episodes=2, start=0):
    from sim.env import RearrangeEnv
    from sim.rollout import default_expert, run_expert_episode
    from sim.scene import split_seed
    from train.video import caption, write_video
    env = RearrangeEnv(task=task, split=split)
    expert = default_expert()
    frames = []
    for i in range(episodes):
        ep = run_expert_episode(env, expert, split_seed(split, start + i), render=True)
        for f, call in zip(ep.frames, ep.calls):
            frames.append(caption(f, f"seed {ep.seed}  expert: {call}"))
        verdict = "success" if ep.success else f"failed: {ep.failure}"
        frames.extend([caption(ep.frames[-1], f"seed {ep.seed}  {verdict}")] * 10)
    env.close()
    return write_video(path, frames, fps=env.metadata["render_fps"])


def _cmd_generate(args) -> int:
    from train.config import ConfigError, load_config
    from train.expert_job import write_json
    from train.generate_job import format_summary, generate_dataset
    overrides = list(args.overrides)
    if args.start is not None:
        overrides.append(f"data.start={args.start}")
    if args.policy:  # DAgger: failed episodes are the point, keep them
        overrides += [f"data.driver={args.policy}", f"data.beta={args.beta}"]
    try:
        config = load_config(args.config, overrides)
        s = generate_dataset(config, out=args.out, episodes=args.episodes, workers=args.workers,
                             keep_failed=True if args.keep_failed or args.policy else None,
                             overwrite=args.overwrite)
    except (ConfigError, FileExistsError, FileNotFoundError) as e:
        print(f"robot-skills generate: {e}", file=sys.stderr)
        return 2
    print(format_summary(s))
    if args.json:
        write_json(args.json, s)
    return 0


def _cmd_bench_data(args) -> int:
    from train.bench_data import bench_data
    r = bench_data(args.config, args.overrides, gen_episodes=args.expert_episodes,
                   batches=args.batches)
    return _emit(r, args.json)


def _cmd_bench_train(args) -> int:
    from train.bench_train import bench_train
    from train.config import load_config
    config = load_config(args.config, args.overrides)
    r = bench_train(config, data_dir=args.data)
    return _emit(r, args.json)


def _cmd_bench_policy(args) -> int:
    from train.bench_policy import bench_policy
    r = bench_policy(args.size)
    return _emit(r, args.json)


def _cmd_bench(args) -> int:
    if args.what == "data":
        return _cmd_bench_data(args)
    if args.what == "train":
        return _cmd_bench_train(args)
    if args.what == "policy":
        return _cmd_bench_policy(args)
    if args.what != "sim":
        print(f"unknown benchmark {args.what!r}; available: sim", file=sys.stderr)
        return 2
    from train.bench import bench_sim
    r = bench_sim(task=args.task, seconds=args.seconds, expert_episodes=args.expert_episodes)
    return _emit(r, args.json)


def _load_config(args, command: str):
    """The --config file with its overrides, or None after printing why it cannot load."""
    from train.config import ConfigError, load_config
    try:
        return load_config(args.config, args.overrides)
    except ConfigError as e:
        print(f"robot-skills {command}: {e}", file=sys.stderr)
        return None


def _cmd_train(args) -> int:
    config = _load_config(args, "train")
    if config is None:
        return 2
    from train.train_job import NonFiniteLoss, train
    try:
        r = train(config, args.workdir, data_dir=args.data)
    except NonFiniteLoss as e:
        print(f"robot-skills train: {e}", file=sys.stderr)
        return 3
    print(f"trained to step {r.step}: train loss {r.train_loss:.4f}, val loss {r.val_loss:.4f}, "
          f"{r.steps_per_s:.1f} steps/s\n  workdir        {r.workdir}")
    return 0


def _cmd_eval(args) -> int:
    from train.eval_job import format_report, run_eval
    try:
        r = run_eval(args.workdir, task=args.task, episodes=args.episodes, split=args.split,
                     policy=args.policy, envs=args.envs, videos=args.videos, start=args.start,
                     checkpoint=args.checkpoint, workers=args.workers, disturb=args.disturb,
                     disturb_delay=args.disturb_delay, instructions=args.instructions,
                     clamp_state=args.clamp_state, route_length_cap=args.route_length_cap)
    except (FileNotFoundError, ValueError) as e:
        print(f"robot-skills eval: {e}", file=sys.stderr)
        return 2
    print(format_report(r))
    return 0


def _csv(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _cmd_compare(args) -> int:
    from train.compare_job import format_summary, format_table, run_compare
    from train.config import ConfigError
    from train.expert_job import write_json
    splits = _csv(args.splits)
    bad = sorted(set(splits) - {"train", "eval", "unseen"})
    if bad or not splits:
        print(f"robot-skills compare: unknown split(s) {bad or splits}; use eval, unseen, train",
              file=sys.stderr)
        return 2
    try:
        r = run_compare(args.config, args.workdir, variants=_csv(args.variants),
                        episodes=args.episodes, splits=splits, envs=args.envs,
                        videos=args.videos, overrides=args.overrides)
    except (ConfigError, ValueError, FileNotFoundError) as e:
        print(f"robot-skills compare: {e}", file=sys.stderr)
        return 2
    print(format_table(r))
    print(format_summary(r))
    if args.json:
        write_json(args.json, r)
    return 0


def _cmd_plan_train(args) -> int:
    config = _load_config(args, "plan-train")
    if config is None:
        return 2
    from train.plan_job import NonFiniteLoss, format_table, train_planner
    try:
        r = train_planner(config, args.workdir)
    except NonFiniteLoss as e:
        print(f"robot-skills plan-train: {e}", file=sys.stderr)
        return 3
    print(f"trained to step {r.step} in {r.minutes:.1f} min: train loss {r.train_loss:.4f}, "
          f"val loss {r.val_loss:.4f}, {r.steps_per_s:.2f} steps/s\n"
          f"plan exact match (greedy decoding):\n{format_table(r.evaluation)}\n"
          f"  workdir        {r.workdir}\n  eval           {os.path.join(r.workdir, 'eval.json')}")
    return 0


def _cmd_plan(args) -> int:
    from train.plan_job import plan_command
    try:
        r = plan_command(args.workdir, args.instruction, scene=args.scene, seed=args.seed,
                         task=args.task)
    except (FileNotFoundError, ValueError) as e:
        print(f"robot-skills plan: {e}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(r, indent=2))
        return 0
    print(f"instruction    {r['instruction']}\nscene          {r['scene'] or '(none given)'}\n"
          f"plan           {r['plan']}\nlatents        {tuple(r['latents_shape'])} "
          f"({r['latent_codes']} codes)")
    return 0


def _cmd_demo(args) -> int:
    from train.demo import run_demo
    return run_demo(args.out, episodes=args.episodes)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="robot-skills", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    e = sub.add_parser("expert", help="run the scripted expert and report success")
    e.add_argument("--task", default="rearrange_hard")
    e.add_argument("--episodes", type=int, default=20)
    e.add_argument("--split", default="eval", choices=["train", "eval", "unseen"])
    e.add_argument("--start", type=int, default=0, help="first episode index in the split")
    e.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    e.add_argument("--noise", type=float, default=0.0, help="DART action noise std")
    e.add_argument("--json", default=None, help="write the report with per-episode rows")
    e.add_argument("--video", default=None, help="write an mp4 of the first episodes")
    e.add_argument("--video-episodes", type=int, default=2)
    e.set_defaults(fn=_cmd_expert)

    b = sub.add_parser("bench", help="benchmarks (JSON output)")
    b.add_argument("what", choices=["sim", "data", "train", "policy"])
    b.add_argument("--task", default="rearrange_hard")
    b.add_argument("--seconds", type=float, default=5.0)
    b.add_argument("--expert-episodes", type=int, default=4)
    b.add_argument("--json", default=None)
    b.add_argument("--config", default="configs/rearrange_hard.py", help="bench data: config")
    b.add_argument("--batches", type=int, default=200, help="bench data: loader batches timed")
    b.add_argument("--data", default=None, help="bench train: dataset directory")
    b.add_argument("--size", default="small", help="bench policy: model size (small, default)")
    b.add_argument("overrides", nargs="*", help="bench data/train: config overrides KEY=VALUE")
    b.set_defaults(fn=_cmd_bench)

    g = sub.add_parser("generate", help="run the expert and write an RLDS dataset")
    g.add_argument("--config", default="configs/rearrange_hard.py",
                   help="config file, optionally with a variant: configs/rearrange_hard.py:small")
    g.add_argument("--episodes", type=int, default=None, help="episodes written (data.episodes)")
    g.add_argument("--out", default=None, help="dataset directory (default: data.dir)")
    g.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    g.add_argument("--keep-failed", action="store_true", help="keep failed expert episodes")
    g.add_argument("--start", type=int, default=None, help="first episode index (data.start)")
    g.add_argument("--policy", default=None,
                   help="DAgger: this trained policy (workdir or checkpoint dir) drives and the "
                        "expert labels every visited state (data.driver); keeps failures")
    g.add_argument("--beta", type=float, default=0.0,
                   help="DAgger: probability per step that the expert's action is executed")
    g.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    g.add_argument("--json", default=None, help="write the summary with per-episode rows")
    g.add_argument("overrides", nargs="*", help="config overrides KEY=VALUE, e.g. data.noise_std=0")
    g.set_defaults(fn=_cmd_generate)

    t = sub.add_parser("train", help="train the SkillTransformer (resumes from --workdir)")
    t.add_argument("--config", default="configs/rearrange_hard.py",
                   help="config file, optionally with a variant: configs/rearrange_hard.py:small")
    t.add_argument("--workdir", required=True)
    t.add_argument("--data", default=None, help="dataset directory (default: config data.dir)")
    t.add_argument("overrides", nargs="*", help="config overrides KEY=VALUE, e.g. train.steps=100")
    t.set_defaults(fn=_cmd_train)

    v = sub.add_parser("eval", help="closed-loop evaluation of a checkpoint (or the expert)")
    v.add_argument("--workdir", required=True, help="training workdir; writes eval_<task>_<split>/")
    v.add_argument("--task", default="rearrange_hard")
    v.add_argument("--episodes", type=int, default=100)
    v.add_argument("--split", default="eval", choices=["train", "eval", "unseen"])
    v.add_argument("--start", type=int, default=0, help="first episode index in the split")
    v.add_argument("--policy", default="checkpoint", choices=["checkpoint", "expert"])
    v.add_argument("--checkpoint", default=None,
                   help="checkpoint dir (default: WORKDIR/checkpoints, the latest step; "
                        "WORKDIR/best is the lowest validation loss)")
    v.add_argument("--envs", type=int, default=4, help="envs stepped together (batch size)")
    v.add_argument("--videos", type=int, default=2, help="episodes recorded as mp4 + timeline")
    v.add_argument("--workers", type=int, default=None,
                   help="processes, each with its own policy and --envs envs (default: all "
                        "cores; 1: this process)")
    v.add_argument("--disturb", default=None, choices=["close_container", "drop_object"],
                   help="undo work mid-episode and report recovery success "
                        "(writes eval_<task>_<split>_<disturb>/)")
    v.add_argument("--disturb-delay", type=int, default=5,
                   help="control steps after the trigger stage latches")
    v.add_argument("--instructions", default="train", choices=["train", "heldout_template"],
                   help="LCB checkpoints: phrasings the planner is asked with (heldout_template:"
                        " never seen in training; writes eval_<task>_<split>_heldout_template/)")
    v.add_argument("--clamp-state", action="store_true",
                   help="clip each state dimension to the training data's [min, max] before "
                        "the policy reads it (writes eval_<task>_<split>_clamped/)")
    v.add_argument("--route-length-cap", type=float, default=None, metavar="M",
                   help="read each route's path length as min(length, M) metres instead of "
                        "what the checkpoint was trained with (0: uncapped; writes "
                        "eval_<task>_<split>_cap<M>m/)")
    v.set_defaults(fn=_cmd_eval)

    c = sub.add_parser("compare", help="train and evaluate the Skill Transformer and its "
                                       "baselines on the same data, one table side by side")
    c.add_argument("--config", default="configs/rearrange_hard.py:small",
                   help="base config (no model variant token); each variant adds its token")
    c.add_argument("--workdir", required=True, help="WORKDIR/<variant>/, compare.json, compare.md")
    c.add_argument("--variants", default="skill_transformer,flat_bc,skill_nocond",
                   help="comma-separated: skill_transformer, flat_bc, skill_nocond")
    c.add_argument("--episodes", type=int, default=10, help="evaluation episodes per split")
    c.add_argument("--splits", default="eval,unseen", help="comma-separated evaluation splits")
    c.add_argument("--envs", type=int, default=4, help="envs stepped together in evaluation")
    c.add_argument("--videos", type=int, default=0, help="episodes recorded per evaluation")
    c.add_argument("--set", dest="overrides", action="extend", nargs="+", default=[],
                   metavar="KEY=VALUE",
                   help="config overrides for every variant, e.g. --set train.steps=100 "
                        "data.episodes=8 (repeatable)")
    c.add_argument("--json", default=None, help="also write compare.json here")
    c.set_defaults(fn=_cmd_compare)

    pt = sub.add_parser("plan-train", help="train the language planner (LCB stage 1)")
    pt.add_argument("--config", default="configs/planner.py",
                    help="config file, optionally with a variant: configs/planner.py:small")
    pt.add_argument("--workdir", required=True)
    pt.add_argument("overrides", nargs="*", help="config overrides KEY=VALUE, e.g. train.steps=100")
    pt.set_defaults(fn=_cmd_plan_train)

    pl = sub.add_parser("plan", help="plan an instruction with a trained planner")
    pl.add_argument("instruction")
    pl.add_argument("--workdir", required=True, help="plan-train workdir (or a checkpoint dir)")
    pl.add_argument("--scene", default=None,
                    help="scene as text, e.g. 'robot in room; red can in drawer'")
    pl.add_argument("--seed", type=int, default=None, help="take the scene of this sim seed")
    pl.add_argument("--task", default="rearrange_hard", help="task of the --seed scene")
    pl.add_argument("--json", action="store_true", help="print JSON")
    pl.set_defaults(fn=_cmd_plan)

    d = sub.add_parser("demo", help="the main job on the small default")
    d.add_argument("--out", default="runs/demo")
    d.add_argument("--episodes", type=int, default=10, help="evaluation episodes")
    d.set_defaults(fn=_cmd_demo)
    return p


def main(argv=None) -> int:
    os.environ.setdefault("MUJOCO_GL", "egl")
    args = build_parser().parse_args(argv)
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
