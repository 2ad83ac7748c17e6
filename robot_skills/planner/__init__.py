"""The language planner with latent-code bridges (LCB): instruction + scene -> plan text and
one latent code per <ACT> token, the SkillTransformer's conditioning tokens (stage 2).

  tokenizer.py  PlanTokenizer: word-level with byte fallback, fitted on the corpus, JSON
  config.py     PlannerConfig (sizes, prompt / plan layout), from_config / to_dict
  sequence.py   encode_prompt (empty -> ValueError, over-long -> truncate + warning), layout
  model.py      PlannerLM protocol, DecoderLM (causal Blocks), LatentPlanner (LM + bridge)
  decode.py     greedy decoding (KV-cached scan or full recompute), plan_and_latents
  corpus.py     tokenised (instruction, scene, plan) batches from sim.instruction_samples
  train.py      LM loss on the plan part, jitted train step, exact-match evaluation
  checkpoint.py orbax DIR/<step>/{params, meta (config, tokenizer)}; Planner (inference)
  freeze.py     stage-2 optimizer: optax.multi_transform over {planner, policy} groups
  bridge.py     BridgeConfig (lcb / text / oracle / instruction), the policy's WordBridge
  joint.py      LCBModel (planner + conditioned policy), lcb_loss (policy + LM loss)
  episodes.py   a dataset episode's language (scene from the seed, instruction, plan) per batch
  stage2.py     Stage2 (what the Trainer needs for configs/lcb.py), LCB checkpoints
  agent.py      LCBAgent: an LCB checkpoint in the closed-loop eval
"""
