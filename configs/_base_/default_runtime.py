# The runtime of every kdcl_mm classification recipe (KDCL and the solo baselines): mmpretrain's,
# with a Runner that validates the config before building it (kdcl_mm.engine.CheckedRunner),
# under any entry point that honours `runner_type` (ours and mmpretrain's tools/train.py), and
# exact resume + preemption (./exact_resume.py, which inherits mmpretrain's runtime).
_base_ = './exact_resume.py'
runner_type = 'CheckedRunner'
custom_imports = dict(imports=['kdcl_mm'], allow_failed_imports=False)
