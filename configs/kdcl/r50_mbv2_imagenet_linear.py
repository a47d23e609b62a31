# Ablation: the Linear generator (simplex weights minimising the batch CE, solved every iteration).
_base_ = './r50_mbv2_imagenet.py'
model = dict(soft_target=dict(_delete_=True, type='LinearSoftTarget', max_iters=20))
