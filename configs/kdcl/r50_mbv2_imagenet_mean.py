# Baseline generator: the plain mean of the logits (DML-style ensemble, not KDCL).
_base_ = './r50_mbv2_imagenet.py'
model = dict(soft_target=dict(_delete_=True, type='MeanSoftTarget'))
