# Exact resume and clean preemption for every kdcl_mm classification recipe (docs/distributed.md),
# as hooks, so that any entry point gets them (ours and mmpretrain's tools/train.py):
# - RNGStateHook: every rank's python/numpy/torch/CUDA generator states in each checkpoint,
#   restored on --resume at the position they were taken;
# - ResumeScheduleHook: a resumed run follows the schedule of its config (e.g. a larger
#   train_cfg.max_epochs), not the end stored in the checkpoint;
# - PreemptionHook: on SIGTERM/SIGUSR1, finish the iteration, save, exit 0;
# - checkpoints written to a temporary file and renamed, never half-written.
# The two other pieces live where their keys do: train_cfg.type='ResumableEpochBasedTrainLoop'
# in configs/_base_/schedules/, train_dataloader.sampler.type='ResumableSampler' (per-sample
# augmentation seeds, skipping on a mid-epoch resume) in configs/_base_/datasets/.
_base_ = 'mmpretrain::_base_/default_runtime.py'
default_hooks = dict(
    checkpoint=dict(backend_args=dict(backend='atomic_local')),
    rng_state=dict(type='RNGStateHook'),
    resume_schedule=dict(type='ResumeScheduleHook'),
    preemption=dict(type='PreemptionHook'),
)
