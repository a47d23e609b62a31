# Exact resume, clean preemption and fault handling for every kdcl_mm classification recipe
# (docs/distributed.md, README "What happens when things go wrong"), as hooks, so that any
# entry point gets them (ours and mmpretrain's tools/train.py):
# - RNGStateHook: every rank's python/numpy/torch/CUDA generator states in each checkpoint,
#   restored on --resume at the position they were taken;
# - ResumeScheduleHook: a resumed run follows the schedule of its config (e.g. a larger
#   train_cfg.max_epochs), not the end stored in the checkpoint;
# - PreemptionHook: on SIGTERM/SIGUSR1, finish the iteration, save, exit 0;
# - DivergenceGuardHook: a step with a non-finite loss or gradient updates nothing; the run
#   stops after max_consecutive_skips such steps in a row, or once a weight is non-finite;
# - DataFaultHook: a sample that cannot be loaded stops the run naming its index and file
#   (skip_bad_samples=True leaves such samples out instead);
# - checkpoints written to a temporary file and renamed, never half-written.
# The other pieces live where their keys do: train_cfg.type='ResumableEpochBasedTrainLoop'
# in configs/_base_/schedules/ (mid-epoch resume; an emergency checkpoint of the last completed
# iteration when training raises), train_dataloader.sampler.type='ResumableSampler' (per-sample
# augmentation seeds, skipping on a mid-epoch resume) in configs/_base_/datasets/.
_base_ = 'mmpretrain::_base_/default_runtime.py'
# mmengine adds _scope_='mmpretrain' to every dict of a mmpretrain:: base, and mmpretrain's
# tools/visualization/browse_dataset.py passes the visualizer's keys to UniversalVisualizer as
# arguments ("unexpected keyword argument '_scope_'"): the same visualizer, defined here.
visualizer = dict(
    _delete_=True, type='UniversalVisualizer', vis_backends=[dict(type='LocalVisBackend')]
)
default_hooks = dict(
    checkpoint=dict(backend_args=dict(backend='atomic_local')),
    rng_state=dict(type='RNGStateHook'),
    resume_schedule=dict(type='ResumeScheduleHook'),
    preemption=dict(type='PreemptionHook'),
    divergence_guard=dict(type='DivergenceGuardHook', max_consecutive_skips=20),
    data_faults=dict(type='DataFaultHook', skip_bad_samples=False),
)
