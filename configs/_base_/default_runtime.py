# The runtime of every kdcl_mm classification recipe (KDCL and the solo baselines): mmpretrain's,
# with a Runner that validates the config before building it (kdcl_mm.engine.CheckedRunner),
# under any entry point that honours `runner_type` (ours and mmpretrain's tools/train.py), and
# exact resume + preemption (./exact_resume.py, which inherits mmpretrain's runtime).
_base_ = './exact_resume.py'
runner_type = 'CheckedRunner'
# kdcl_mm's registries (kdcl_mm/registry.py): ours, then mmpretrain's, then mmengine's types.
default_scope = 'kdcl_mm'
custom_imports = dict(imports=['kdcl_mm'], allow_failed_imports=False)
# mmengine logs a key's value at the logged iteration only, unless the key matches mean_pattern
# (then the mean over window_size iterations): `{student}.nonfinite` is averaged too, over the
# whole logging interval (mmpretrain's LoggerHook logs every 100), so that a NaN batch anywhere
# between two logged iterations shows as a count above 0. A recipe that logs more often sets
# window_size with its LoggerHook interval.
log_processor = dict(window_size=100, mean_pattern=r'.*(loss|time|data_time|grad_norm|nonfinite).*')
